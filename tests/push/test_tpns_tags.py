"""POST /v3/device/tag (operator types 1–10) and /v3/device/tag/delete_all_device: TPNS's
documented examples, every operator type and limit, app isolation, nothing written on refusal,
one tag set with the SDK and tag pushes, and two calls racing on one token."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from push import fanout, tags
from push.models import Device, DeviceTag
from tests.conftest import run_concurrently
from tests.push.conftest import add_device, outsider_app
from tests.push.test_sdk_api import REGISTER, Sdk
from tests.push.test_tpns_auth import tpns
from tests.push.test_tpns_push import body as push_body
from tests.push.test_tpns_push import push_app, tokens_of


def tag(client, app, data):
    return tpns(client, app, "device/tag", data).json()


def tags_of(device) -> set[str]:
    return set(DeviceTag.objects.filter(device=device).values_list("tag", flat=True))


def result(answer) -> list[str]:
    return json.loads(answer["result"])


@pytest.fixture
def devices(app):
    """token1–token3 as in TPNS's examples; token1 carries tag1 and level:1 already."""
    return {
        "token1": add_device(app, "token1", tags=["tag1", "level:1"]),
        "token2": add_device(app, "token2"),
        "token3": add_device(app, "token3", tags=["tag3"]),
    }


@pytest.fixture
def other(personas):
    """The outsider's app, with a device named like ours, carrying tag1 too."""
    other = outsider_app(personas)
    add_device(other, "token1", tags=["tag1"])
    add_device(other, "tok-x", tags=["tag1"])
    return other


def snapshot():
    return sorted(DeviceTag.objects.values_list("application_id", "device__token", "tag"))


# --------------------------------------------------------------------------------------------
# TPNS's documented examples, sent as published; the answer compared field by field.

DOC_EXAMPLES = [  # API 文档_标签相关接口_标签绑定与解绑: 标签绑定解绑请求示例
    {"operator_type": 1, "tag_list": ["tag1"], "token_list": ["token1"]},
    {"operator_type": 2, "tag_list": ["tag1"], "token_list": ["token1"]},
    {"operator_type": 3, "tag_list": ["tag1", "tag2"], "token_list": ["token1"]},
    {"operator_type": 4, "tag_list": ["tag1", "tag2"], "token_list": ["token1"]},
    {"operator_type": 5, "tag_list": ["tag1", "tag2"], "token_list": ["token1"]},
    {"operator_type": 6, "tag_list": ["test:2", "level"], "token_list": ["token1"]},
    {"operator_type": 6, "tag_list": ["test:2", "level:2"], "token_list": ["token1"]},
    {"operator_type": 7, "tag_list": ["tag1"], "token_list": ["token1", "token2"]},
    {"operator_type": 8, "tag_list": ["tag1"], "token_list": ["token1", "token2"]},
    {"operator_type": 9, "tag_token_list": [{"tag": "tag1", "token": "token1"}]},
    {
        "operator_type": 10,
        "tag_token_list": [
            {"tag": "tag1", "token": "token1"},
            {"tag": "tag2", "token": "token2"},
            {"tag": "tag3", "token": "token3"},
        ],
    },
]
DOC_ANSWER = {"seq": 0, "ret_code": 0}  # 标签设置应答示例


@pytest.mark.parametrize("example", DOC_EXAMPLES, ids=lambda e: f"type{e['operator_type']}")
def test_each_documented_request_gets_the_documented_answer(client, app, devices, example):
    answer = tag(client, app, example)

    for key, value in DOC_ANSWER.items():
        assert answer[key] == value and type(answer[key]) is type(value), key
    # err_msg and result are documented as optional strings
    assert answer["err_msg"] == "NO_ERROR"
    assert isinstance(answer["result"], str)
    items = (
        example.get("tag_token_list")
        or example["token_list"][: 1 if example["operator_type"] <= 6 else None]
    )
    assert result(answer) == ["0"] * len(items)


def test_the_documented_delete_all_device_example_gets_the_documented_answer(client, app, other):
    a = add_device(app, "tok-a", tags=["test_tag_3_Ik0N0", "keep"])
    b = add_device(app, "tok-b", tags=["test_tag_2_Ik0N0"])

    answer = tpns(
        client,
        app,
        "device/tag/delete_all_device",
        '{\n    "tag_list": ["test_tag_3_Ik0N0", "test_tag_2_Ik0N0"]\n}',
    ).json()

    assert answer == {"ret_code": 0, "err_msg": "", "seq": 0, "result": ""}
    assert (tags_of(a), tags_of(b)) == ({"keep"}, set())


def test_seq_is_echoed(client, app, devices):
    ok = tag(client, app, {**DOC_EXAMPLES[0], "seq": 42})
    refused = tag(client, app, {"operator_type": 1, "token_list": ["token1"], "seq": 43})
    cleared = tpns(client, app, "device/tag/delete_all_device", {"tag_list": ["x"], "seq": 44})

    assert (ok["seq"], refused["seq"], cleared.json()["seq"]) == (42, 43, 44)


def test_the_java_sdks_extra_fields_are_ignored(client, app, devices):
    # xinge-api-java's DeviceTagRequest also sends platform, seq, op_type and op_id.
    answer = tag(
        client,
        app,
        {
            "operator_type": 3,
            "platform": "android",
            "token_list": ["token2"],
            "tag_list": ["a", "b"],
            "seq": 0,
            "op_type": None,
            "op_id": None,
        },
    )

    assert answer["ret_code"] == 0
    assert tags_of(devices["token2"]) == {"a", "b"}


# --------------------------------------------------------------------------------------------
# Every operator type, as TPNS defines it

OPERATIONS = [
    # (body, the tags of token1, token2, token3 after); before: {tag1, level:1}, {}, {tag3}
    pytest.param(
        # only the first tag and the first token are used
        {"operator_type": 1, "tag_list": ["new", "unused"], "token_list": ["token2", "token3"]},
        ({"tag1", "level:1"}, {"new"}, {"tag3"}),
        id="1-add-one-tag-to-one-token",
    ),
    pytest.param(
        {"operator_type": 2, "tag_list": ["tag1", "level:1"], "token_list": ["token1", "token3"]},
        ({"level:1"}, set(), {"tag3"}),
        id="2-remove-one-tag-from-one-token",
    ),
    pytest.param(
        {"operator_type": 3, "tag_list": ["a", "b", "tag1"], "token_list": ["token1", "token2"]},
        ({"tag1", "level:1", "a", "b"}, set(), {"tag3"}),
        id="3-add-tags-to-one-token",
    ),
    pytest.param(
        {"operator_type": 4, "tag_list": ["tag1", "level:1", "no"], "token_list": ["token1"]},
        (set(), set(), {"tag3"}),
        id="4-remove-tags-from-one-token",
    ),
    pytest.param(
        {"operator_type": 5, "token_list": ["token1", "token3"]},  # tag_list is ignored
        (set(), set(), {"tag3"}),
        id="5-clear-one-token",
    ),
    pytest.param(
        # a tag without a colon: the list replaces all the token's tags
        {"operator_type": 6, "tag_list": ["test:2", "level"], "token_list": ["token1"]},
        ({"test:2", "level"}, set(), {"tag3"}),
        id="6-overwrite-all",
    ),
    pytest.param(
        # every tag a class:value tag: each replaces the token's tags of its class only
        {"operator_type": 6, "tag_list": ["test:2", "level:3"], "token_list": ["token1"]},
        ({"tag1", "test:2", "level:3"}, set(), {"tag3"}),
        id="6-overwrite-by-class",
    ),
    pytest.param(
        {"operator_type": 7, "tag_list": ["vip", "unused"], "token_list": ["token1", "token2"]},
        ({"tag1", "level:1", "vip"}, {"vip"}, {"tag3"}),
        id="7-add-one-tag-to-tokens",
    ),
    pytest.param(
        {"operator_type": 8, "tag_list": ["tag1"], "token_list": ["token1", "token2", "token3"]},
        ({"level:1"}, set(), {"tag3"}),
        id="8-remove-one-tag-from-tokens",
    ),
    pytest.param(
        {
            "operator_type": 9,
            # both pair forms: the documented object and XG's [tag, token]
            "tag_token_list": [{"tag": "x", "token": "token2"}, ["y", "token3"], ["z", "token2"]],
        },
        ({"tag1", "level:1"}, {"x", "z"}, {"tag3", "y"}),
        id="9-add-pairs",
    ),
    pytest.param(
        {
            "operator_type": 10,
            "tag_token_list": [
                {"tag": "tag1", "token": "token1"},
                ["tag3", "token1"],  # not token1's: nothing
                ["tag3", "token3"],
            ],
        },
        ({"level:1"}, set(), set()),
        id="10-remove-pairs",
    ),
]


@pytest.mark.parametrize("data, expected", OPERATIONS)
def test_each_operator_type_changes_the_tags_as_tpns_defines(client, app, devices, data, expected):
    answer = tag(client, app, data)

    assert answer["ret_code"] == 0, answer
    assert tuple(tags_of(devices[t]) for t in ("token1", "token2", "token3")) == expected


def test_overwrite_by_class_keeps_tags_of_other_classes_and_of_none(client, app):
    # The guide's example: level:1, level:2 and male; level:3 replaces the level class only.
    device = add_device(app, "tok", tags=["level:1", "level:2", "male", "test"])

    tag(client, app, {"operator_type": 6, "tag_list": ["level:3"], "token_list": ["tok"]})

    assert tags_of(device) == {"level:3", "male", "test"}


# --------------------------------------------------------------------------------------------
# Refusals: TPNS's code, the field named, nothing written

REFUSED = [
    ("not JSON", b"{not json", 1008001, "the request body is not valid JSON"),
    ("no operator_type", {"token_list": ["token1"], "tag_list": ["a"]}, 1008002, "operator_type"),
    ("operator_type 11", {"operator_type": 11, "token_list": ["token1"]}, 1008007, "operator_type"),
    ("operator_type text", {"operator_type": "1"}, 1008007, "operator_type: must be an integer"),
    ("no token_list", {"operator_type": 1, "tag_list": ["a"]}, 1008002, "token_list: required"),
    (
        "empty token_list",
        {"operator_type": 7, "tag_list": ["a"], "token_list": []},
        1008002,
        "token_list: required",
    ),
    ("no tag_list", {"operator_type": 3, "token_list": ["token1"]}, 1008002, "tag_list: required"),
    ("no tag_list for 6", {"operator_type": 6, "token_list": ["token1"]}, 1008002, "tag_list"),
    (
        "no tag_token_list",
        {"operator_type": 9, "token_list": ["token1"]},
        1008002,
        "tag_token_list",
    ),
    (
        "501 tokens",
        {"operator_type": 7, "tag_list": ["a"], "token_list": [f"t{i}" for i in range(501)]},
        1008007,
        "token_list: at most 500 items; got 501",
    ),
    (
        "501 tags",
        {"operator_type": 3, "tag_list": [f"t{i}" for i in range(501)], "token_list": ["token1"]},
        1008007,
        "tag_list: at most 500 items; got 501",
    ),
    (
        "501 pairs",
        {"operator_type": 9, "tag_token_list": [["a", f"t{i}"] for i in range(501)]},
        1008007,
        "tag_token_list: at most 500 items; got 501",
    ),
    (
        "a tag of 51 characters",
        {"operator_type": 3, "tag_list": ["ok", "x" * 51], "token_list": ["token1"]},
        1008007,
        "tag_list[1]: at most 50 characters",
    ),
    (
        "an empty tag",
        {"operator_type": 1, "tag_list": [" "], "token_list": ["token1"]},
        1008007,
        "tag_list[0]: must not be empty",
    ),
    (
        "a tag that is no string",
        {"operator_type": 3, "tag_list": ["a", 7], "token_list": ["token1"]},
        1008007,
        "tag_list[1]: must be a string",
    ),
    (
        "a token that is no string",
        {"operator_type": 7, "tag_list": ["a"], "token_list": ["token1", 7]},
        1008007,
        "token_list[1]: must be a string",
    ),
    (
        "a pair without its token",
        {"operator_type": 9, "tag_token_list": [{"tag": "a", "token": "token1"}, {"tag": "b"}]},
        1008002,
        "tag_token_list[1].token: required",
    ),
    (
        "a pair of three",
        {"operator_type": 10, "tag_token_list": [["a", "token1", "x"]]},
        1008007,
        "tag_token_list[0]: must be",
    ),
    (
        "a pair's tag too long",
        {"operator_type": 9, "tag_token_list": [{"tag": "x" * 51, "token": "token1"}]},
        1008007,
        "tag_token_list[0].tag: at most 50 characters",
    ),
]


@pytest.mark.parametrize(
    "data, code, message", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_a_refused_call_names_the_field_and_writes_nothing(
    client, app, devices, data, code, message
):
    before = snapshot()

    answer = tag(client, app, data)

    assert answer["ret_code"] == code
    assert answer["err_msg"].startswith(message) or message in answer["err_msg"], answer
    assert snapshot() == before


def test_a_tag_of_50_characters_and_500_tokens_are_accepted(client, app):
    tokens = [f"tok-{i}" for i in range(500)]
    Device.objects.bulk_create(Device(application=app, token=t, platform="android") for t in tokens)
    tag50 = "标" * 50

    answer = tag(client, app, {"operator_type": 7, "tag_list": [tag50], "token_list": tokens})

    assert answer["ret_code"] == 0 and result(answer) == ["0"] * 500
    assert DeviceTag.objects.filter(application=app, tag=tag50).count() == 500


@pytest.mark.parametrize(
    "path, data, message",
    [
        ("device/tag/delete_all_device", {}, "tag_list: required"),
        ("device/tag/delete_all_device", {"tag_list": ["x" * 51]}, "tag_list[0]: at most 50"),
        ("device/tag/delete_all_device", {"tag_list": ["a"] * 501}, "tag_list: at most 500"),
    ],
)
def test_delete_all_device_refusals_write_nothing(client, app, devices, path, data, message):
    before = snapshot()

    answer = tpns(client, app, path, data).json()

    assert answer["ret_code"] in (1008002, 1008007) and answer["err_msg"].startswith(message)
    assert snapshot() == before


# --------------------------------------------------------------------------------------------
# Tokens: unknown, another app's, malformed; per-item results


def test_an_unknown_token_is_1008006_and_nothing_is_written(client, app, devices):
    before = snapshot()

    answer = tag(client, app, {"operator_type": 1, "tag_list": ["a"], "token_list": ["nobody"]})

    assert answer["ret_code"] == 1008006
    assert answer["err_msg"] == "token_list: not a device of this app: 'nobody'"
    assert result(answer) == ["1008006"]
    assert snapshot() == before


def test_a_token_that_cannot_be_one_is_1008029(client, app, devices):
    answer = tag(client, app, {"operator_type": 7, "tag_list": ["a"], "token_list": ["x" * 37, ""]})

    assert answer["ret_code"] == 1008029
    assert result(answer) == ["1008029", "1008029"]
    assert not DeviceTag.objects.filter(tag="a").exists()


def test_known_tokens_are_done_and_each_item_has_its_code(client, app, devices):
    answer = tag(
        client,
        app,
        {"operator_type": 7, "tag_list": ["a"], "token_list": ["token2", "nobody", "token3"]},
    )

    assert answer["ret_code"] == 1008026
    assert result(answer) == ["0", "1008006", "0"]
    assert "nobody" in answer["err_msg"]
    assert {d.token for d in Device.objects.filter(tags__tag="a")} == {"token2", "token3"}


def test_mixed_failures_of_every_item_are_1008027(client, app, devices):
    answer = tag(
        client,
        app,
        {"operator_type": 9, "tag_token_list": [["a", "nobody"], ["b", "x" * 40]]},
    )

    assert answer["ret_code"] == 1008027
    assert result(answer) == ["1008006", "1008029"]


@pytest.mark.parametrize(
    "data",
    [
        {"operator_type": 1, "tag_list": ["a"], "token_list": ["tok-x"]},
        {"operator_type": 2, "tag_list": ["tag1"], "token_list": ["tok-x"]},
        {"operator_type": 4, "tag_list": ["tag1"], "token_list": ["tok-x"]},
        {"operator_type": 5, "token_list": ["tok-x"]},
        {"operator_type": 6, "tag_list": ["a"], "token_list": ["tok-x"]},
        {"operator_type": 8, "tag_list": ["tag1"], "token_list": ["tok-x"]},
        {"operator_type": 10, "tag_token_list": [["tag1", "tok-x"]]},
    ],
    ids=lambda d: f"type{d['operator_type']}",
)
def test_another_apps_token_does_not_exist_here(client, app, devices, other, data):
    before = snapshot()

    answer = tag(client, app, data)

    assert answer["ret_code"] == 1008006 and result(answer) == ["1008006"]
    assert snapshot() == before


def test_a_token_both_apps_have_changes_only_the_callers_device(client, app, devices, other):
    tag(client, app, {"operator_type": 5, "token_list": ["token1"]})
    tag(client, app, {"operator_type": 1, "tag_list": ["mine"], "token_list": ["token1"]})

    assert tags_of(devices["token1"]) == {"mine"}
    assert tags_of(Device.objects.get(application=other, token="token1")) == {"tag1"}


def test_delete_all_device_leaves_other_apps_alone(client, app, devices, other):
    answer = tpns(client, app, "device/tag/delete_all_device", {"tag_list": ["tag1"]}).json()

    assert answer["ret_code"] == 0
    assert not DeviceTag.objects.filter(application=app, tag="tag1").exists()
    assert DeviceTag.objects.filter(application=other, tag="tag1").count() == 2


# --------------------------------------------------------------------------------------------
# 100 tags a token, 10,000 a app


def full_device(app, token, count=tags.MAX_TAGS_PER_DEVICE):
    return add_device(app, token, tags=[f"t{i}" for i in range(count)])


def test_a_token_takes_100_tags_and_not_one_more(client, app):
    device = full_device(app, "tok", 99)

    over = tag(client, app, {"operator_type": 3, "tag_list": ["n1", "n2"], "token_list": ["tok"]})
    again = tag(client, app, {"operator_type": 3, "tag_list": ["t0", "n1"], "token_list": ["tok"]})
    more = tag(client, app, {"operator_type": 1, "tag_list": ["n2"], "token_list": ["tok"]})

    assert over["ret_code"] == 1008007 and result(over) == ["1008007"]
    assert over["err_msg"] == "token_list: the device would carry more than 100 tags: 'tok'"
    assert again["ret_code"] == 0  # t0 is bound already: only n1 counts
    assert more["ret_code"] == 1008007
    assert len(tags_of(device)) == 100 and "n2" not in tags_of(device)


def test_a_full_token_fails_alone_in_a_call_for_many(client, app):
    full_device(app, "full")
    fine = add_device(app, "fine")

    answer = tag(
        client, app, {"operator_type": 7, "tag_list": ["x"], "token_list": ["full", "fine"]}
    )
    pairs = tag(client, app, {"operator_type": 9, "tag_token_list": [["y", "fine"], ["y", "full"]]})

    assert (answer["ret_code"], result(answer)) == (1008026, ["1008007", "0"])
    assert (pairs["ret_code"], result(pairs)) == (1008026, ["0", "1008007"])
    assert tags_of(fine) == {"x", "y"}


def test_an_overwrite_is_held_to_100_tags(client, app):
    device = full_device(app, "tok", 60)
    before = tags_of(device)

    too_many = tag(
        client,
        app,
        {"operator_type": 6, "tag_list": [f"n{i}" for i in range(101)], "token_list": ["tok"]},
    )
    by_class = tag(
        client,
        app,
        {"operator_type": 6, "tag_list": [f"c:{i}" for i in range(41)], "token_list": ["tok"]},
    )
    replaced = tag(
        client,
        app,
        {"operator_type": 6, "tag_list": [f"n{i}" for i in range(100)], "token_list": ["tok"]},
    )

    assert too_many["ret_code"] == by_class["ret_code"] == 1008007
    assert replaced["ret_code"] == 0
    assert before != tags_of(device) == {f"n{i}" for i in range(100)}


@pytest.fixture
def app_at_limit(app, personas):
    """100 devices carrying 10,000 distinct tags; another app has more, which do not count."""
    Device.objects.bulk_create(
        Device(application=app, token=f"full-{i}", platform="android") for i in range(100)
    )
    rows = [
        DeviceTag(device_id=d, application=app, tag=f"tag-{n}-{i}")
        for n, d in enumerate(Device.objects.filter(application=app).values_list("pk", flat=True))
        for i in range(100)
    ]
    DeviceTag.objects.bulk_create(rows)
    other = outsider_app(personas)
    add_device(other, "tok-o", tags=["other-only"])
    return app


def test_an_app_takes_10000_tags_and_not_one_more(client, app_at_limit):
    app = app_at_limit
    fresh = add_device(app, "fresh")
    assert tags.distinct_tags(app.pk) == 10_000

    known = tag(
        client,
        app,
        {"operator_type": 3, "tag_list": ["tag-0-0", "tag-5-5"], "token_list": ["fresh"]},
    )
    before = snapshot()
    new = tag(
        client,
        app,
        {"operator_type": 9, "tag_token_list": [["tag-1-1", "fresh"], ["brand-new", "fresh"]]},
    )
    overwrite = tag(
        client, app, {"operator_type": 6, "tag_list": ["brand-new"], "token_list": ["fresh"]}
    )

    assert known["ret_code"] == 0
    assert new["ret_code"] == overwrite["ret_code"] == 1008007
    assert new["err_msg"] == (
        "tag_token_list: the application has 10000 custom tags and at most 10000; "
        "1 more would pass the limit"
    )
    assert overwrite["err_msg"].startswith("tag_list: the application has 10000")
    assert snapshot() == before  # not even the pair that was fine, nor the overwrite's drop
    assert tags_of(fresh) == {"tag-0-0", "tag-5-5"}


def test_a_tag_that_left_the_app_frees_its_place(client, app_at_limit):
    app = app_at_limit
    add_device(app, "fresh")
    tpns(client, app, "device/tag/delete_all_device", {"tag_list": ["tag-0-0"]})

    answer = tag(
        client, app, {"operator_type": 1, "tag_list": ["brand-new"], "token_list": ["fresh"]}
    )

    assert answer["ret_code"] == 0
    assert tags.distinct_tags(app.pk) == 10_000


# --------------------------------------------------------------------------------------------
# Set-based writes


@pytest.mark.postgres  # the statements are PostgreSQL's (SQLite: INSERT OR IGNORE)
def test_a_call_for_500_tokens_takes_a_few_statements(client, app):
    tokens = [f"tok-{i}" for i in range(500)]
    Device.objects.bulk_create(Device(application=app, token=t, platform="android") for t in tokens)
    pairs = [[f"p{i % 7}", t] for i, t in enumerate(tokens)]

    with CaptureQueriesContext(connection) as added:
        assert (
            tag(client, app, {"operator_type": 7, "tag_list": ["a"], "token_list": tokens})[
                "ret_code"
            ]
            == 0
        )
    with CaptureQueriesContext(connection) as paired:
        assert tag(client, app, {"operator_type": 9, "tag_token_list": pairs})["ret_code"] == 0
    with CaptureQueriesContext(connection) as removed:
        assert tag(client, app, {"operator_type": 10, "tag_token_list": pairs})["ret_code"] == 0

    for captured in (added, paired, removed):
        assert len(captured) <= 14, [q["sql"][:80] for q in captured]
    inserts = [q for q in paired if q["sql"].startswith("INSERT INTO")]
    deletes = [q for q in removed if q["sql"].startswith("DELETE FROM")]
    assert len(inserts) == 1 and "ON CONFLICT" in inserts[0]["sql"]
    assert len(deletes) == 1
    assert DeviceTag.objects.filter(application=app).count() == 500


def test_removing_a_tag_everywhere_deletes_in_chunks_of_one_statement(app):
    devices = [add_device(app, f"tok-{i}", tags=["gone", "kept"]) for i in range(5)]

    with CaptureQueriesContext(connection) as captured:
        assert tags.remove_everywhere(app.pk, ["gone"], chunk=2) == 5

    deletes = [q for q in captured if q["sql"].startswith("DELETE FROM")]
    assert len(deletes) == 3  # 2 + 2 + 1
    assert all(tags_of(d) == {"kept"} for d in devices)


# --------------------------------------------------------------------------------------------
# One tag set: the TPNS API, the SDK and tag pushes


def test_a_tag_bound_here_is_seen_by_tag_pushes_of_both_forms(client, app, devices, clock):
    tag(client, app, {"operator_type": 7, "tag_list": ["fans"], "token_list": ["token2", "token3"]})
    tag(client, app, {"operator_type": 9, "tag_token_list": [["fans", "token1"]]})
    tag(client, app, {"operator_type": 10, "tag_token_list": [["fans", "token3"]]})
    audiences = [
        {"tag_rules": [{"tag_items": [{"tags": ["fans"], "tags_operator": "OR"}]}]},
        {"tag_list": {"tags": ["fans"], "op": "OR"}},  # the legacy form
        {"tag_list": {"tags": ["fans", "tag1"], "op": "AND"}},
        {"tag_rules": [], "tag_list": {"tags": ["fans"], "op": "OR"}},  # a library's empty default
    ]
    reached = []

    for i, audience in enumerate(audiences):
        clock(1_900_000_000 + 2 * i)  # tag pushes: one a second
        answer = push_app(client, app, push_body(audience_type="tag", token_list=[], **audience))
        assert answer["ret_code"] == 0, answer
        fanout.start(int(answer["push_id"]))
        reached.append(tokens_of(answer["push_id"]))

    assert reached == [{"token1", "token2"}, {"token1", "token2"}, {"token1"}, {"token1", "token2"}]


def test_tags_bound_here_are_the_sdks_and_the_sdks_are_seen_here(client, app, devices):
    sdk = Sdk(Client(), app)
    tag(client, app, {"operator_type": 3, "tag_list": ["from-api"], "token_list": ["token2"]})

    view = sdk.post("register", {**REGISTER, "token": "token2"}).json()
    assert view["tags"] == ["from-api"]

    replaced = sdk.post("register", {**REGISTER, "token": "token2", "tags": ["level:1", "male"]})
    assert replaced.status_code == 200

    # The SDK's set is the one this API changes: class overwrite, removal, the 100 limit.
    tag(client, app, {"operator_type": 6, "tag_list": ["level:2"], "token_list": ["token2"]})
    assert tags_of(devices["token2"]) == {"level:2", "male"}
    tag(client, app, {"operator_type": 2, "tag_list": ["male"], "token_list": ["token2"]})
    assert sdk.post("register", {**REGISTER, "token": "token2"}).json()["tags"] == ["level:2"]

    sdk.post("register", {**REGISTER, "token": "token2", "tags": [f"s{i}" for i in range(100)]})
    full = tag(
        client, app, {"operator_type": 1, "tag_list": ["one-more"], "token_list": ["token2"]}
    )
    assert full["ret_code"] == 1008007


# --------------------------------------------------------------------------------------------
# Two calls at once on one token


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_adding_to_one_token_keep_it_at_100_tags(app):
    device = full_device(app, "tok", 90)

    def add_five(i):
        data = {
            "operator_type": 3,
            "tag_list": [f"new-{i}-{n}" for n in range(5)],
            "token_list": ["tok"],
        }
        return tag(Client(), app, data)["ret_code"]

    codes = run_concurrently(8, add_five)

    assert sorted(codes) == [0, 0] + [1008007] * 6
    assert len(tags_of(device)) == 100


def test_the_sdk_keeps_the_applications_tag_limit_too(app, client, monkeypatch):
    monkeypatch.setattr(tags, "MAX_TAGS_PER_APP", 2)
    add_device(app, "tok-lim", tags=["a", "b"])
    headers = {"X-Access-Id": str(app.access_id), "X-Access-Key": app.access_key}

    answer = client.post(
        "/sdk/v1/register",
        {"platform": "android", "tags": ["c"]},
        content_type="application/json",
        headers=headers,
    )

    assert answer.status_code == 400 and "tags" in answer.json()["error"]["fields"]
    assert not DeviceTag.objects.filter(tag="c").exists()
    assert Device.objects.count() == 1  # the new device was not kept either
