"""Bodies of /v3/statistics/...: a push id, or a page of push records between two Beijing days."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils.translation import gettext_lazy as _

from lib import dates
from lib.ids import bigint_id
from lib.words import Words
from push.models import Push

from .. import RetCode, TpnsError, invalid, missing
from .fields import BEIJING, DATE_FORMAT, INT32_MAX, Fields

MAX_RECORDS = 200  # statistics: records per page


def push_id(data: dict) -> int:
    """The pushId of a statistics request (TPNS sends a string; numbers are accepted too)."""
    value = data.get("pushId")
    if value is None or value == "":
        raise missing("pushId")
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or (pk := bigint_id(text)) is None:
        raise TpnsError(
            RetCode.NO_SUCH_PUSH,
            Words(_("push %(id)s does not exist"), id=repr(value)),
            field="pushId",
        )
    return pk


@dataclass
class RecordQuery:
    start: datetime
    end: datetime  # exclusive
    message_type: str
    audience_types: list[str]  # empty: every type
    offset: int
    limit: int


# pushType: a single-target type and its list form are one type in the records.
PUSH_TYPE_FILTER = {
    "all": [Push.Audience.ALL],
    "tag": [Push.Audience.TAG],
    "token": list(Push.Audience.TOKENS),
    "token_list": list(Push.Audience.TOKENS),
    "account": list(Push.Audience.ACCOUNTS),
    "account_list": list(Push.Audience.ACCOUNTS),
    "package_account_push": [Push.Audience.PACKAGE_ACCOUNT],
    "package_token_push": [Push.Audience.PACKAGE_TOKEN],
}


def _day(f: Fields, key: str) -> date:
    text = f.string(key, required=True)
    try:
        day = datetime.strptime(text, DATE_FORMAT).date()
    except ValueError:
        raise TpnsError(
            RetCode.BAD_DATE,
            Words(_("must be YYYY-MM-DD; got %(value)s"), value=repr(text)),
            field=key,
        ) from None
    if not dates.in_range(day):
        raise TpnsError(
            RetCode.BAD_DATE,
            Words(
                _("must be a date between %(earliest)s and %(latest)s"),
                earliest=dates.EARLIEST.isoformat(),
                latest=dates.LATEST.isoformat(),
            ),
            field=key,
        )
    return day


def parse_record_query(data: dict) -> RecordQuery:
    """startDate/endDate are Beijing calendar days, both included. TPNS only keeps a month of
    records; we keep more and do not refuse older dates."""
    f = Fields(data)
    start, end = _day(f, "startDate"), _day(f, "endDate")
    if end < start:
        raise TpnsError(RetCode.BAD_DATE, _("is before startDate"), field="endDate")
    push_type = f.string("pushType")
    if push_type and push_type not in PUSH_TYPE_FILTER:
        raise invalid(
            "pushType", _("must be one of %(choices)s"), choices=", ".join(PUSH_TYPE_FILTER)
        )
    return RecordQuery(
        start=datetime.combine(start, datetime.min.time(), BEIJING),
        end=datetime.combine(end + timedelta(days=1), datetime.min.time(), BEIJING),
        message_type=f.string("msgType", choices=Push.MessageType.values),
        audience_types=PUSH_TYPE_FILTER.get(push_type, []),
        offset=f.integer("offset", default=0, minimum=0, maximum=INT32_MAX),
        limit=f.integer("limit", default=20, minimum=1, maximum=MAX_RECORDS),
    )
