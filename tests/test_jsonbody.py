"""lib.jsonbody: the checks hold whichever way the text reaches them (escapes, UTF-16/32 bytes,
``str`` with a literal surrogate), also on the fast path that skips the string walk."""

import json

import pytest

from lib import jsonbody

BAD = [
    (b'{"a": ["ok", "x\\u0000"]}', "a[1]"),
    (b'{"a": {"b": "\\ud800"}}', "a.b"),
    (b'{"a": {"b": "\\uDFFF"}}', "a.b"),
    (json.dumps({"a": "\x00"}, ensure_ascii=False).encode("utf-16"), "a"),
    (json.dumps({"a": "\udc00"}).encode("utf-32"), "a"),
    ('{"a": "\ud800"}', "a"),
    ('{"\\u0000": 1}', "body"),
]


@pytest.mark.parametrize(("text", "path"), BAD)
def test_a_nul_or_lone_surrogate_is_refused_by_its_path(text, path):
    with pytest.raises(jsonbody.Refused) as refused:
        jsonbody.loads(text)
    assert refused.value.path == path


@pytest.mark.parametrize("text", [b'{"a": "\\ud83d\\ude00"}', b'{"a": "\\\\u0000"}', "{}"])
def test_a_pair_an_escaped_backslash_and_plain_text_are_taken(text):
    jsonbody.loads(text)


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("as_bytes", [True, False])
@pytest.mark.parametrize("suspicious", [True, False])
def test_nesting_is_limited_with_and_without_suspicious_text(as_bytes, suspicious):
    def body(levels):
        # The object around the list is one level more; its pair sends it down the slow path.
        text = (
            '{"x": "\\ud83d\\ude00", "y": ' + nested(levels - 1) + "}"
            if suspicious
            else nested(levels)
        )
        return text.encode() if as_bytes else text

    jsonbody.loads(body(jsonbody.MAX_DEPTH))
    with pytest.raises(jsonbody.Refused, match="nested deeper"):
        jsonbody.loads(body(jsonbody.MAX_DEPTH + 1))
