"""Reading untrusted JSON: one rule for every API that takes JSON (TPNS, SDK, management).

``loads(text)`` returns the value or raises ``Refused``. It refuses, beyond what ``json`` does:

- ``NaN``, ``Infinity`` and numbers too large for a float (``1e309`` would become infinity):
  PostgreSQL's ``jsonb`` cannot hold them, and no client means them;
- nesting deeper than ``MAX_DEPTH`` (no request of ours nests more than a few levels, and deep
  nesting exhausts the recursion of every later step that walks the value);
- a string or key holding a NUL character (PostgreSQL refuses NUL in ``text`` and ``jsonb``) or
  a lone UTF-16 surrogate such as ``"\\ud800"`` (it cannot be encoded as UTF-8, so it can be
  neither stored nor echoed in an error message).

The first two are parse errors (``Refused.path`` is None); the last names the first offending
value by its path as the APIs' field errors do (``message.title``, ``token_list[2]``), so each
protocol answers it in its own error shape.
"""

import json
import math
import re

MAX_DEPTH = 64
# NUL, or a surrogate code point: json decodes an unpaired "\ud800" to one; a valid pair
# ("\ud83d\ude00") is decoded to one astral character and is not matched.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
# What must be in the raw text for a decoded string to hold NUL or a surrogate: the escape
# ``\u0000`` or ``\udXXX`` (json refuses raw control characters, and UTF-8 cannot carry
# surrogates); in bytes, a NUL byte (UTF-16 and UTF-32 text, which json also reads, is full of
# them); in text given as ``str``, a surrogate itself. Without any of these only the nesting
# needs a walk, and that walk can skip the strings (a 1,000-token push: 0.1 ms, not 4 ms).
_BAD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_BAD_ESCAPE_BYTES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\x00")


class Refused(ValueError):
    def __init__(self, message: str, path: str | None = None):
        super().__init__(f"{path}: {message}" if path else message)
        self.message, self.path = message, path


def _no_constant(name: str):
    raise Refused(f"not valid JSON ({name} is not a JSON number)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Refused(f"the number {text[:40]} is out of range")
    return value


def _child(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def text_problem(value: str) -> str | None:
    """Why a string cannot be taken (NUL or lone surrogate), or None."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL characters"
    return "must be valid Unicode text (it holds a lone surrogate)"


def check(value, path: str = "") -> None:
    """Raise Refused for the first string or key that cannot be stored, or for nesting deeper
    than MAX_DEPTH. Iterative, so a deep value cannot exhaust the stack here."""
    stack = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if (problem := text_problem(item)) is not None:
                raise Refused(problem, where or "body")
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise Refused(f"nested deeper than {MAX_DEPTH} levels")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            children = []
            for key, child in pairs:
                if isinstance(key, str) and (problem := text_problem(key)) is not None:
                    raise Refused(f"keys {problem}", where or "body")
                children.append((child, _child(where, key), depth + 1))
            stack.extend(reversed(children))  # report the first offender in document order


def _nesting_ok(value) -> bool:
    """Whether no container is nested deeper than MAX_DEPTH (iterative, strings skipped)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return False
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def _may_hold_bad_text(text: str | bytes) -> bool:
    if isinstance(text, bytes | bytearray):
        return _BAD_ESCAPE_BYTES.search(text) is not None
    return _BAD_ESCAPE.search(text) is not None or _BAD_TEXT.search(text) is not None


def loads(text: str | bytes):
    """Parse and check untrusted JSON (see the module's docstring); raises Refused."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except Refused:
        raise
    except RecursionError:
        raise Refused(f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise Refused(f"not valid JSON ({exc})") from None
    if _may_hold_bad_text(text):
        check(value)  # names the offending value's path
    elif isinstance(value, dict | list) and not _nesting_ok(value):
        raise Refused(f"nested deeper than {MAX_DEPTH} levels")
    return value
