"""Typed access to a JSON object under validation, and what every TPNS body shares: the
body itself (``load``), ``seq``, the Idempotency-Key header, Beijing time."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from lib import jsonbody
from lib.words import Words

from .. import RetCode, TpnsError, invalid, missing

BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"

INT64 = (-(2**63), 2**63 - 1)
INT32_MAX = 2**31 - 1
IDEMPOTENCY_KEY_MAX = 100  # Push.idempotency_key
OPERATORS = ("AND", "OR")


class Fields:
    """A JSON object under validation; errors name each field by its full path."""

    def __init__(self, data: dict, path: str = ""):
        self.data, self.path = data, path

    @classmethod
    def of(cls, value, path: str) -> "Fields":
        if not isinstance(value, dict):
            raise invalid(path, _("must be an object"))
        return cls(value, path)

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        default: str = "",
        max_length: int | None = None,
        choices=None,
    ) -> str:
        value = self.data.get(key)
        if required and (value is None or (isinstance(value, str) and not value.strip())):
            raise missing(self.name(key))
        if value is None:
            return default
        if not isinstance(value, str):
            raise invalid(self.name(key), _("must be a string"))
        if max_length is not None and len(value) > max_length:
            raise invalid(self.name(key), _("at most %(limit)s characters"), limit=max_length)
        if choices is not None and value not in choices:
            raise invalid(
                self.name(key),
                _("must be one of %(choices)s; got %(value)s"),
                choices=", ".join(choices),
                value=repr(value),
            )
        return value

    def integer(
        self,
        key: str,
        *,
        required: bool = False,
        default: int | None = None,
        minimum: int | None = None,
        maximum: int | None = None,
        choices=None,
    ) -> int | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise missing(self.name(key))
            return default
        return check_int(value, self.name(key), minimum=minimum, maximum=maximum, choices=choices)

    def boolean(self, key: str, *, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise invalid(self.name(key), _("must be true or false"))
        return value

    def obj(self, key: str, *, required: bool = False) -> "Fields | None":
        value = self.data.get(key)
        if value is None:
            if required:
                raise missing(self.name(key))
            return None
        return Fields.of(value, self.name(key))

    def array(self, key: str, *, required: bool = False, max_items: int | None = None) -> list:
        value = self.data.get(key)
        if value is None or value == []:
            if required:
                raise missing(self.name(key))
            return []
        if not isinstance(value, list):
            raise invalid(self.name(key), _("must be an array"))
        if max_items is not None and len(value) > max_items:
            raise invalid(
                self.name(key),
                _("at most %(limit)s items; got %(count)s"),
                limit=max_items,
                count=len(value),
            )
        return value

    def strings(self, key: str, *, required: bool = False, max_items: int | None = None):
        values = self.array(key, required=required, max_items=max_items)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise invalid(f"{self.name(key)}[{i}]", _("must be a string"))
        return values

    def operator(self, key: str) -> str:
        value = self.string(key, default="OR")
        if value.upper() not in OPERATORS:
            raise invalid(self.name(key), _("must be AND or OR; got %(value)s"), value=repr(value))
        return value.upper()


def check_int(value, name: str, *, minimum=None, maximum=None, choices=None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, _("must be an integer"))
    if choices is not None and value not in choices:
        raise invalid(
            name,
            _("must be one of %(choices)s; got %(value)s"),
            choices=", ".join(map(str, choices)),
            value=value,
        )
    if minimum is not None and value < minimum:
        raise invalid(name, _("must be at least %(limit)s"), limit=minimum)
    if maximum is not None and value > maximum:
        raise invalid(name, _("must be at most %(limit)s"), limit=maximum)
    return value


def load(body: bytes) -> dict:
    """The request body as a JSON object, else 1008001 (also for NaN, Infinity, a number that
    overflows a float, or nesting deeper than ``jsonbody.MAX_DEPTH``). A string holding NUL or a
    lone surrogate, which could be neither stored nor echoed, is 1008007 naming the field."""
    try:
        data = jsonbody.loads(body)
    except jsonbody.Refused as exc:
        if exc.path is not None:
            raise invalid(exc.path, _json_problem(exc.message)) from None
        if exc.message.startswith("not valid JSON"):
            raise TpnsError(RetCode.PARSE_ERROR, _("the request body is not valid JSON")) from None
        raise TpnsError(
            RetCode.PARSE_ERROR,
            Words(
                _("the request body is refused: %(problem)s"),
                problem=_json_problem(exc.message).say,
            ),
        ) from None
    if not isinstance(data, dict):
        raise TpnsError(RetCode.PARSE_ERROR, _("the request body must be a JSON object"))
    return data


def seq_of(data: dict) -> int:
    """The seq to echo, also in error answers (0 if absent or unusable)."""
    seq = data.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and INT64[0] <= seq <= INT64[1]:
        return seq
    return 0


def idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise invalid(
            "Idempotency-Key", _("at most %(limit)s characters"), limit=IDEMPOTENCY_KEY_MAX
        )
    if key and not key.isprintable():
        raise invalid("Idempotency-Key", _("must be printable characters"))
    return key


def beijing_time(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def unique(values: list) -> list:
    return list(dict.fromkeys(values))


def listed(values: list, limit: int = 10) -> Words:
    """The first ``limit`` values, and how many more (``str()`` of it is the English)."""
    shown = ", ".join(repr(v) for v in values[:limit])
    if len(values) <= limit:
        return Words(shown)
    return Words(_("%(shown)s and %(more)s more"), shown=shown, more=len(values) - limit)


# ``lib.jsonbody``'s refusals (its own English, which names the JSON rule), as people read them.
# Keyed by that English: tests/push/test_composer_errors.py checks that each is jsonbody's own.
_JSON_PROBLEMS = {
    "must not contain NUL characters": _("must not contain NUL characters"),
    "must be valid Unicode text (it holds a lone surrogate)": _(
        "must be valid Unicode text (it holds a lone surrogate)"
    ),
    "keys must not contain NUL characters": _("keys must not contain NUL characters"),
    "keys must be valid Unicode text (it holds a lone surrogate)": _(
        "keys must be valid Unicode text (it holds a lone surrogate)"
    ),
}
_TOO_DEEP = f"nested deeper than {jsonbody.MAX_DEPTH} levels"


def _json_problem(problem: str) -> Words:
    if problem in _JSON_PROBLEMS:
        return Words(_JSON_PROBLEMS[problem])
    if problem == _TOO_DEEP:
        return Words(_("nested deeper than %(limit)s levels"), limit=jsonbody.MAX_DEPTH)
    # A number out of range: jsonbody's English (it quotes the number) in the reader's frame.
    return Words(
        pgettext_lazy("a JSON reader's refusal, in its English", "%(problem)s"), problem=problem
    )
