"""``send_time`` and the other documented top-level fields of a push, kept in ``Push.options``."""

import re
from datetime import datetime, timedelta

from django.utils.translation import gettext_lazy as _

from push import loops
from push.models import Push

from .. import invalid
from .fields import BEIJING, DATE_FORMAT, INT64, TIME_FORMAT, Fields, check_int

SEND_AHEAD_MAX = timedelta(days=90)
CHANNELS = ("xg", "hw", "xm", "mz", "vivo", "oppo", "apns", "honor", "fcm")
DAY_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")
AHEAD_MAX = _("at most 90 days ahead")
ONLY_BROADCASTS_LOOP = _("only all, tag and package pushes can loop")


def parse_send_time(f: Fields, push: Push, now: datetime) -> datetime | None:
    text = f.string("send_time")
    if not text:
        return None
    if push.audience_type not in Push.Audience.BROADCASTS:
        raise invalid("send_time", _("only all, tag and package pushes can be scheduled"))
    try:
        moment = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError:
        raise invalid(
            "send_time",
            _("must be yyyy-MM-DD HH:MM:SS (Beijing time); got %(value)s"),
            value=repr(text),
        ) from None
    if moment > now + SEND_AHEAD_MAX:
        raise invalid("send_time", AHEAD_MAX)
    return moment if moment > now else None  # a past time means "now"


def parse_options(f: Fields, push: Push) -> dict:
    """The other documented fields, type-checked and kept as given."""
    broadcast = push.audience_type in Push.Audience.BROADCASTS
    options = {}
    if f.has("send_time"):
        options["send_time"] = f.string("send_time")
    if f.has("multi_pkg"):
        options["multi_pkg"] = f.boolean("multi_pkg")
    for key in ("plan_id", "group_id"):
        if f.has(key):
            options[key] = f.string(key, max_length=100)
    if f.has("push_speed"):
        options["push_speed"] = f.integer("push_speed", minimum=1000, maximum=50000)
    if f.has("collapse_id"):
        options["collapse_id"] = f.integer("collapse_id", minimum=0, maximum=INT64[1])
    for key in ("force_collapse", "supply_inapp_msg"):
        if f.has(key):
            options[key] = f.boolean(key)
    if f.has("tpns_online_push_type"):
        options["tpns_online_push_type"] = f.integer("tpns_online_push_type", choices=(0, 1))
    if f.has("ignore_invalid_token"):
        options["ignore_invalid_token"] = f.integer("ignore_invalid_token", choices=(0, 1))
    rules = f.array("channel_rules", max_items=len(CHANNELS))
    for i, rule in enumerate(rules):
        r = Fields.of(rule, f"channel_rules[{i}]")
        r.string("channel", required=True, choices=CHANNELS)
        r.boolean("disable")
    if rules:
        options["channel_rules"] = rules
    if (loop := f.obj("loop_param")) is not None:
        if not broadcast:
            raise invalid("loop_param", ONLY_BROADCASTS_LOOP)
        _loop_param(loop)
        options["loop_param"] = loop.data
    elif f.has("loop_times") and f.data["loop_times"] != 0:
        # The legacy XG form: loop_times pushes, loop_interval days apart. TPNS's Java server
        # SDK sends loop_times 0 and loop_interval 0 with every push: no loop.
        if not broadcast:
            raise invalid("loop_times", ONLY_BROADCASTS_LOOP)
        options["loop_times"] = f.integer(
            "loop_times", required=True, minimum=1, maximum=loops.LOOP_TIMES_MAX
        )
        interval = f.integer("loop_interval", minimum=0, maximum=loops.LOOP_INTERVAL_MAX)
        options["loop_interval"] = interval or 1
    return options


def loop_occurrences(push: Push, now: datetime) -> list[datetime]:
    """When each push of a loop goes out (``push.loops``), in the account's time zone; []
    for a push that does not loop. Checked against TPNS's 90 days and our cap."""
    options = push.options
    if "loop_param" in options:
        tz = push.application.account.tz
        param = options["loop_param"]
        today = now.astimezone(tz).date()
        for key in ("startDate", "endDate"):
            if datetime.strptime(param[key], DATE_FORMAT).date() > today + SEND_AHEAD_MAX:
                raise invalid(f"loop_param.{key}", AHEAD_MAX)
        moments = loops.occurrences(param, tz, now=now)
        where = "loop_param"
    elif "loop_times" in options:
        first = push.send_at or now
        moments = loops.repeated(first, options["loop_times"], options["loop_interval"])
        if moments[-1] > now + SEND_AHEAD_MAX:
            raise invalid("loop_times", _("the last push would be more than 90 days ahead"))
        return moments
    else:
        return []
    if not moments:
        raise invalid(where, _("names no moment after now: nothing would be sent"))
    if len(moments) > loops.MAX_OCCURRENCES:
        raise invalid(
            where,
            _("names %(count)s pushes; a loop is at most %(limit)s"),
            count=len(moments),
            limit=loops.MAX_OCCURRENCES,
        )
    return moments


def _loop_param(loop: Fields) -> None:
    days = []
    for key in ("startDate", "endDate"):
        text = loop.string(key, required=True)
        try:
            days.append(datetime.strptime(text, DATE_FORMAT).date())
        except ValueError:
            raise invalid(
                loop.name(key), _("must be YYYY-MM-DD; got %(value)s"), value=repr(text)
            ) from None
    if days[1] < days[0]:
        raise invalid(loop.name("endDate"), _("is before startDate"))
    loop_type = loop.integer("loopType", required=True, choices=(1, 2, 3))
    top = {1: 0, 2: 6, 3: 31}[loop_type]
    for i, day in enumerate(loop.array("loopDayIndexs", required=True)):
        check_int(day, f"{loop.name('loopDayIndexs')}[{i}]", minimum=0, maximum=top)
    for i, text in enumerate(loop.strings("dayTimes", required=True)):
        if not DAY_TIME.match(text):
            raise invalid(
                f"{loop.name('dayTimes')}[{i}]",
                _("must be HH:MM:SS; got %(value)s"),
                value=repr(text),
            )
