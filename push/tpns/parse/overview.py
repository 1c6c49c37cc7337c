"""Bodies of the statistics overviews, the token tool and the user attributes: the daily push
and device overviews, the plan (group) aggregate and the device distribution take ``YYYYMMDD``
Beijing days within a documented window back from today; getPushListByToken and
set_custom_attribute take a token.

A date that is not eight digits naming a day, an end before its start, or a day older than the
API's window is 1008016 ("date param format error", TPNS's statistics date code), naming the
field. A day after today is accepted: the figures simply end today.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.utils.translation import gettext_lazy as _

from lib.words import Words
from push.models import TOKEN_MAX_LENGTH

from .. import RetCode, TpnsError, invalid, missing
from .fields import Fields

COMPACT_DATE = re.compile(r"^\d{8}$")
COMPACT_FORMAT = "%Y%m%d"

# How far back each API may ask, in days before today (its documented limit, read generously:
# "最近30天" admits the 30 days before today, "3个月" 92 days, "1个月" 31 days).
OVERVIEW_DAYS = 30  # get_push_channel_stat_overview
GROUP_DAYS = 7  # get_push_group_stat(_channel)
DEVICE_DAYS = 92  # get_device_stat_overview
DISTRIBUTION_DAYS = 31  # get_device_distribute_info

# get_device_distribute_info's dimensions (``type``).
DIMENSIONS = (
    "city",
    "province",
    "app_version",
    "sdk_version",
    "system_version",
    "device_brand",
    "device_version",
)

# set_custom_attribute: cmd 1 add, 2 update, 3 delete, 4 delete all, 5 query.
ADD, UPDATE, DELETE, CLEAR, QUERY = 1, 2, 3, 4, 5
ATTRIBUTE_BYTES = 50  # a name and a value: at most 50 bytes each (UTF-8)
MAX_ATTRIBUTES = 100  # ours: TPNS bounds them by the attributes created in its console


def compact_day(f: Fields, key: str, *, today: date, back_days: int) -> date:
    """A required ``YYYYMMDD`` day no more than ``back_days`` before ``today``."""
    text = f.string(key, required=True)
    day = None
    if COMPACT_DATE.match(text):
        try:
            day = datetime.strptime(text, COMPACT_FORMAT).date()
        except ValueError:
            pass
    if day is None:
        raise TpnsError(
            RetCode.BAD_DATE,
            Words(_("must be YYYYMMDD; got %(value)s"), value=repr(text)),
            field=f.name(key),
        )
    if day < today - timedelta(days=back_days):
        raise TpnsError(
            RetCode.BAD_DATE,
            Words(_("only the last %(limit)s days can be queried"), limit=back_days),
            field=f.name(key),
        )
    return day


def day_range(data: dict, *, today: date, back_days: int) -> tuple[date, date]:
    """``startDate`` and ``endDate`` (both included) of an overview."""
    f = Fields(data)
    start = compact_day(f, "startDate", today=today, back_days=back_days)
    end = compact_day(f, "endDate", today=today, back_days=back_days)
    if end < start:
        raise TpnsError(RetCode.BAD_DATE, _("is before startDate"), field="endDate")
    return start, end


@dataclass
class GroupQuery:
    """Pushes of one plan (``plan_id``), or of one legacy group (``group_id``)."""

    plan_id: str
    group_id: str
    start: date
    end: date


def parse_group_query(data: dict, *, today: date) -> GroupQuery:
    """``planId`` or ``groupId`` (planId wins when both are given, as TPNS documents; the
    published example spells it ``groupid``, accepted too), and the day range."""
    f = Fields(data)
    plan_id = f.string("planId", max_length=100).strip()
    group_id = ""
    if not plan_id:
        key = "groupId" if f.has("groupId") or not f.has("groupid") else "groupid"
        group_id = f.string(key, max_length=100).strip()
        if not group_id:
            raise missing("planId", _("give planId (or the legacy groupId)"))
    start, end = day_range(data, today=today, back_days=GROUP_DAYS)
    return GroupQuery(plan_id=plan_id, group_id=group_id, start=start, end=end)


def parse_distribution(data: dict, *, today: date) -> tuple[date, str]:
    """The ``date`` and the dimension (``type``) of a device distribution."""
    f = Fields(data)
    day = compact_day(f, "date", today=today, back_days=DISTRIBUTION_DAYS)
    dimension = f.string("type", required=True, choices=DIMENSIONS)
    return day, dimension


def parse_token(data: dict) -> str:
    """The ``token`` of a per-token call. One longer than a token can be is still a string
    the caller gets "does not exist" for, not a malformed request."""
    return Fields(data).string("token", required=True).strip()


@dataclass
class AttributeCommand:
    cmd: int
    token: str
    attributes: dict[str, str] = field(default_factory=dict)  # cmd 1–3: name → value
    invalid: list[str] = field(default_factory=list)  # names filtered out (invalidAttribute)


def _fits(text: str) -> bool:
    return 0 < len(text.encode()) <= ATTRIBUTE_BYTES


def parse_attribute_command(data: dict) -> AttributeCommand:
    """``cmd``, ``token`` and, for cmd 1–3, ``attributeInfo.attributeMap`` (names to string
    values). As TPNS filters attributes it does not accept and lists them in
    ``invalidAttribute``, a name or value that is empty, not a string or over 50 bytes is
    filtered out into ``invalid``; the others are applied."""
    f = Fields(data)
    cmd = f.integer("cmd", required=True, choices=(ADD, UPDATE, DELETE, CLEAR, QUERY))
    token = f.string("token", required=True).strip()
    command = AttributeCommand(cmd=cmd, token=token)
    if cmd not in (ADD, UPDATE, DELETE):
        return command
    info = f.obj("attributeInfo", required=True)
    entries = info.obj("attributeMap", required=True)
    if not entries.data:
        raise missing(entries.path)
    if len(entries.data) > MAX_ATTRIBUTES:
        raise invalid(entries.path, _("at most %(limit)s attributes"), limit=MAX_ATTRIBUTES)
    for name, value in entries.data.items():
        if cmd != DELETE and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # "age": 100 means what "age": "100" does
        usable = isinstance(value, str) and (cmd == DELETE or _fits(value))
        if _fits(name.strip()) and usable:
            command.attributes[name.strip()] = value if cmd != DELETE else ""
        else:
            command.invalid.append(name)
    return command


def token_known(token: str) -> bool:
    """Whether ``token`` could be a device's at all (else it is "does not exist" at once)."""
    return 0 < len(token) <= TOKEN_MAX_LENGTH
