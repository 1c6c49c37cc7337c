"""The TPNS statistics overviews, the token tool and the user attributes (``/v3/statistics/...``,
``/v3/toolbox/getPushListByToken``, ``/v3/device/set_custom_attribute``).

Every statistics API answers ``retCode``/``errMsg`` and counts against the app's 200 calls an
hour (``quota``). Days are Beijing calendar days, as everywhere in TPNS; a push belongs to the
day it was sent (its send time, else its creation), the day get_push_record shows as its
``date``.

The push figures are ``push.stats``' (``summaries``: the stored rollup of a large push, else a
few grouped queries for a whole chunk of pushes), summed per day or per plan over the pushes,
never over their deliveries one by one. Each channel's ``pushState`` carries TPNS's keys:

- ``pushActiveUv`` every target, ``pushOnlineUv`` what the channel accepted, ``arrivalUv`` and
  ``verifyUv`` the arrivals (the app's reports and the vendors' receipts alike), ``clickUv``,
  ``cleanupUv`` the dismissals (as get_push_task_stat_channel);
- ``verifySvcUv``: the arrivals on our own channel, APNs and FCM, and, as TPNS documents for
  the phone makers' channels, what those channels accepted;
- ``callbackVerifySvcUv``: the arrivals a phone maker's receipt reported (0 on the others).

The ``all`` row sums each key over the channels listed, except ``callbackVerifySvcUv``, which
TPNS documents as the makers' receipts plus the other channels' ``verifySvcUv``. Our own
``smsStat`` (the supplementary SMS, summed over the pushes that had it) stands beside.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from itertools import islice

from django.db import transaction
from django.db.models import Count, DateTimeField, Q
from django.db.models.functions import Coalesce, TruncDate
from django.db.models.query import QuerySet

from push import attributes, stats
from push.channels import TPNS_NAMES
from push.models import Application, ChannelKind, Delivery, Device, Push

from . import RetCode, TpnsError, invalid, parse
from . import quota as quotas
from .api import NO_ERROR, tpns_api
from .auth import now as clock_now
from .parse import overview
from .parse.fields import BEIJING
from .parse.options import SEND_AHEAD_MAX
from .views import base_push_state, push_of, sms_figures

VENDORS = frozenset(ChannelKind.vendors())
# Pushes summed per chunk: ``stats.summaries`` counts a chunk in a few grouped queries.
CHUNK = 500
# What ``stats.summaries`` reads of a push, and the day it belongs to: nothing else is loaded.
SUMMARY_FIELDS = (
    "id",
    "status",
    "targets",
    "resend_by_sms",
    "sms_trigger",
    "sms_delay",
    "sms_max",
    "send_at",
    "created_at",
)


def _ok(**fields) -> dict:
    return {"retCode": RetCode.OK.value, "errMsg": NO_ERROR, **fields}


def _today(now: datetime) -> date:
    return now.astimezone(BEIJING).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, BEIJING)


def _days(start: date, end: date, today: date) -> list[date]:
    """The days from ``start`` to ``end`` (both included) that have begun."""
    last = min(end, today)
    return [start + timedelta(days=i) for i in range((last - start).days + 1)]


def _sent_between(app: Application, start: date, end: date) -> QuerySet:
    """The app's pushes sent (or, unsent, created) on the Beijing days ``start``..``end``.
    A push is created at most ``SEND_AHEAD_MAX`` before it is sent, which bounds the scan of
    ``push_app_created_idx``."""
    low, high = _midnight(start), _midnight(end + timedelta(days=1))
    return (
        Push.objects.filter(
            application=app, created_at__gte=low - SEND_AHEAD_MAX, created_at__lt=high
        )
        .annotate(pushed_at=Coalesce("send_at", "created_at", output_field=DateTimeField()))
        .filter(pushed_at__gte=low, pushed_at__lt=high)
    )


def _day_of(push: Push) -> date:
    return (push.send_at or push.created_at).astimezone(BEIJING).date()


# --------------------------------------------------------------------------------------------
# Figures summed over pushes


_SMS_SUMS = (
    "due",
    "waiting",
    "claimed",
    "decided",
    *(f"outcome_{o}" for o in stats.OUTCOMES),
    "sms_sent",
    "sms_delivered",
    "sms_failed",
    "sms_unknown",
    "fee",
)
# A push's SMS settings: they do not add up, so a sum over pushes leaves them out.
_SMS_SETTINGS = ("triggerCondition", "delayTriggerTime", "maxSms")


class Totals:
    """The figures of a set of pushes: per channel ``stats.CHANNEL_KEYS``, and the SMS sums."""

    def __init__(self):
        self.channels: dict[str, dict[str, int]] = {}
        self.sms_pushes = 0
        self.sms = dict.fromkeys(_SMS_SUMS, 0)
        self.blocked: dict[str, int] = defaultdict(int)

    def add(self, summary: dict) -> None:
        for row in summary["channels"]:
            figures = self.channels.setdefault(row["channel"], dict.fromkeys(stats.CHANNEL_KEYS, 0))
            for key in stats.CHANNEL_KEYS:
                figures[key] += row.get(key, 0)  # stored before a key existed: 0
        sms = summary["sms"]
        if sms["enabled"]:
            self.sms_pushes += 1
            for key in _SMS_SUMS:
                self.sms[key] += sms.get(key, 0)
            for reason, n in sms.get("blocked_by_reason", {}).items():
                self.blocked[reason] += n

    def push_stat_data(self) -> list[dict]:
        """``[{channel, pushState}]``: our channel always, each other that carried deliveries,
        then ``all``."""
        none = dict.fromkeys(stats.CHANNEL_KEYS, 0)
        listed = [
            (kind, name)
            for kind, name in TPNS_NAMES.items()
            if kind in self.channels or kind == ChannelKind.BUILTIN
        ]
        states = [push_state(self.channels.get(kind, none), kind) for kind, _ in listed]
        total = {key: sum(state[key] for state in states) for key in states[0]}
        total["callbackVerifySvcUv"] = sum(
            state["callbackVerifySvcUv" if kind in VENDORS else "verifySvcUv"]
            for (kind, _), state in zip(listed, states, strict=True)
        )
        rows = [
            {"channel": name, "pushState": state}
            for (_, name), state in zip(listed, states, strict=True)
        ]
        return [*rows, {"channel": "all", "pushState": total}]

    def sms_stat(self) -> dict:
        """Our supplementary-SMS figures summed over the pushes that had it (``smsStat`` of
        get_push_record without the per-push settings, plus ``pushes``: how many had it)."""
        if not self.sms_pushes:
            return {"enabled": False, "pushes": 0}
        summed = {
            "enabled": True,
            "trigger_condition": None,
            "delay_trigger_time": None,
            "max_sms": None,
            **self.sms,
            "blocked_by_reason": dict(self.blocked),
        }
        answer = {k: v for k, v in sms_figures(summed).items() if k not in _SMS_SETTINGS}
        return {**answer, "pushes": self.sms_pushes}


def push_state(figures: dict, channel: str) -> dict:
    """A channel's ``pushState`` from its ``stats.channel_figures`` (see the module)."""
    vendor = channel in VENDORS
    return {
        **base_push_state(figures),
        "verifySvcUv": figures["accepted"] if vendor else figures["arrived"],
        "callbackVerifySvcUv": figures["arrived_by_vendor"] if vendor else 0,
        "verifyUv": figures["arrived"],
    }


def totals(pushes: QuerySet, key, now: datetime) -> dict:
    """``key(push)`` → Totals of those pushes, summed chunk by chunk over ``stats.summaries``
    (the stored figures of large pushes, a few grouped queries for the others)."""
    out: dict = defaultdict(Totals)
    rows = pushes.only(*SUMMARY_FIELDS).order_by("pk").iterator(chunk_size=CHUNK)
    while chunk := list(islice(rows, CHUNK)):
        figures = stats.summaries(chunk, now=now)
        for push in chunk:
            out[key(push)].add(figures[push.pk])
    return out


# --------------------------------------------------------------------------------------------
# POST /v3/statistics/get_push_task_stat_channel


@tpns_api(camel=True, quota=quotas.STATISTICS)
def get_push_task_stat_channel(request, app: Application) -> dict:
    """One push's funnel per channel (``push.stats``' ``channels``), built as the overviews
    build theirs (``Totals.push_stat_data``): "xg" (our built-in channel) always, each other
    channel ("apns", "fcm", "hw", "xm", "oppo", "vivo", "honor", "mz") when it carried
    deliveries of the push, then "all", as TPNS's example lists them. Arrivals count the app's
    reports and the vendors' receipts alike, as TPNS's arrivalUv did."""
    push = push_of(app, parse.load(request.body))
    totals = Totals()
    totals.add(stats.summary(push))
    return {
        "retCode": RetCode.OK.value,
        "errMsg": NO_ERROR,
        "pushStatDataAll": totals.push_stat_data(),
    }


# --------------------------------------------------------------------------------------------
# POST /v3/statistics/get_push_channel_stat_overview (get_push_stat_overview)


@tpns_api(camel=True, quota=quotas.STATISTICS)
def push_stat_overview(request, app: Application) -> dict:
    now = clock_now()
    today = _today(now)
    start, end = overview.day_range(
        parse.load(request.body), today=today, back_days=overview.OVERVIEW_DAYS
    )
    by_day = totals(_sent_between(app, start, end), _day_of, now)
    return _ok(
        pushDateChannelStat=[
            {
                "date": day.strftime(overview.COMPACT_FORMAT),
                "channelDatas": (t := by_day.get(day, Totals())).push_stat_data(),
                "smsStat": t.sms_stat(),
            }
            for day in _days(start, end, today)
        ]
    )


# --------------------------------------------------------------------------------------------
# POST /v3/statistics/get_push_group_stat (get_push_group_stat_channel)


def _group_filter(query: overview.GroupQuery) -> Q:
    """The pushes of the plan, or of the legacy group. A push without ``group_id`` is in TPNS's
    default group ``tpns_<its day>``."""
    if query.plan_id:
        return Q(options__plan_id=query.plan_id)
    named = Q(options__group_id=query.group_id)
    prefix, _, digits = query.group_id.partition("_")
    if prefix != "tpns" or not overview.COMPACT_DATE.match(digits):
        return named
    try:
        day = datetime.strptime(digits, overview.COMPACT_FORMAT).date()
    except ValueError:
        return named
    unnamed = Q(options__group_id__isnull=True) & Q(
        pushed_at__gte=_midnight(day), pushed_at__lt=_midnight(day + timedelta(days=1))
    )
    return named | unnamed


@tpns_api(camel=True, quota=quotas.STATISTICS)
def push_group_stat(request, app: Application) -> dict:
    now = clock_now()
    query = overview.parse_group_query(parse.load(request.body), today=_today(now))
    pushes = _sent_between(app, query.start, query.end).filter(_group_filter(query))
    total = totals(pushes, lambda push: None, now).get(None, Totals())
    return _ok(pushStatDataAll=total.push_stat_data(), smsStat=total.sms_stat())


# --------------------------------------------------------------------------------------------
# POST /v3/statistics/get_device_stat_overview


def _per_day(devices: QuerySet, column: str) -> dict[date, int]:
    return dict(
        devices.annotate(day=TruncDate(column, tzinfo=BEIJING))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
        .order_by()
    )


@tpns_api(camel=True, quota=quotas.STATISTICS)
def device_stat_overview(request, app: Application) -> dict:
    """Per day: ``newUv`` the devices registered that day, ``accuUv`` all registered by its
    end, ``activeUv`` the devices whose latest contact was that day (we keep each device's
    latest contact only, so a past day counts the devices not seen since: exact for today, a
    lower bound before)."""
    now = clock_now()
    today = _today(now)
    start, end = overview.day_range(
        parse.load(request.body), today=today, back_days=overview.DEVICE_DAYS
    )
    low, high = _midnight(start), _midnight(end + timedelta(days=1))
    devices = Device.objects.filter(application=app)
    new = _per_day(devices.filter(created_at__gte=low, created_at__lt=high), "created_at")
    active = _per_day(devices.filter(last_seen_at__gte=low, last_seen_at__lt=high), "last_seen_at")
    accumulated = devices.filter(created_at__lt=low).count()
    data = []
    for day in _days(start, end, today):
        accumulated += new.get(day, 0)
        data.append(
            {
                "date": int(day.strftime(overview.COMPACT_FORMAT)),
                "accuUv": accumulated,
                "newUv": new.get(day, 0),
                "activeUv": active.get(day, 0),
            }
        )
    # TPNS's example answers errMsg "" here, unlike its push statistics.
    return {"retCode": RetCode.OK.value, "errMsg": "", "getDeviceStatOverviewData": data}


# --------------------------------------------------------------------------------------------
# POST /v3/statistics/get_device_distribute_info

# The Device column of each dimension we know. The SDK reports no city, province or model.
DIMENSION_COLUMNS = {
    "app_version": "app_version",
    "sdk_version": "sdk_version",
    "system_version": "os_version",
    "device_brand": "device_brand",
}


@tpns_api(camel=True, quota=quotas.STATISTICS)
def device_distribute_info(request, app: Application) -> dict:
    """The app's devices registered by the end of ``date``, counted by their (current) value
    of the dimension, the largest group first; ``[]`` for a dimension we do not collect."""
    day, dimension = overview.parse_distribution(
        parse.load(request.body), today=_today(clock_now())
    )
    column = DIMENSION_COLUMNS.get(dimension)
    data = []
    if column:
        rows = (
            Device.objects.filter(
                application=app, created_at__lt=_midnight(day + timedelta(days=1))
            )
            .values(column)
            .annotate(count=Count("id"))
            .order_by("-count", column)
        )
        data = [{dimension: r[column], "count": r["count"]} for r in rows]
    return {"retCode": RetCode.OK.value, "errMsg": "", "data": data}


# --------------------------------------------------------------------------------------------
# POST /v3/toolbox/getPushListByToken

# TPNS's documented example shows "TAG_PUSH"; the others follow its pattern.
TARGET_TYPES = {kind: f"{kind.upper().removesuffix('_PUSH')}_PUSH" for kind in Push.Audience.values}


def _device_of(app: Application, token: str) -> Device:
    device = None
    if overview.token_known(token):
        device = Device.objects.filter(application=app, token=token).first()
    if device is None:
        raise TpnsError(RetCode.NOT_FOUND, f"token: {token!r} is not a device of this app")
    return device


def _delivery_sms(resend_by_sms: bool, fallback: str, outcome: str) -> dict:
    """The supplementary SMS of one device's delivery: whether the push had it, where its
    decision stands (``Delivery.Fallback``) and the outcome once decided."""
    if not resend_by_sms:
        return {"enabled": False}
    return {"enabled": True, "fallback": fallback, "outcome": outcome}


@tpns_api(camel=True, quota=quotas.STATISTICS)
def push_list_by_token(request, app: Application) -> dict:
    """The pushes that reached the token's device today (Beijing): each delivery made today,
    in the order the pushes were sent."""
    token = overview.parse_token(parse.load(request.body))
    device = _device_of(app, token)
    low = _midnight(_today(clock_now()))
    rows = (
        Delivery.objects.filter(
            device=device,
            push__application=app,
            created_at__gte=low,
            created_at__lt=low + timedelta(days=1),
        )
        .annotate(
            pushed_at=Coalesce("push__send_at", "push__created_at", output_field=DateTimeField())
        )
        .order_by("pushed_at", "push_id")
        .values_list(
            "push_id",
            "pushed_at",
            "push__audience_type",
            "push__resend_by_sms",
            "fallback",
            "outcome",
        )
    )
    return _ok(
        pushTaskList=[
            {
                "pushId": push_id,
                "pushTime": int(pushed_at.timestamp()),
                "pushTargetType": TARGET_TYPES.get(audience_type, audience_type.upper()),
                "smsStat": _delivery_sms(resend_by_sms, fallback, outcome),
            }
            for push_id, pushed_at, audience_type, resend_by_sms, fallback, outcome in rows
        ]
    )


# --------------------------------------------------------------------------------------------
# POST /v3/device/set_custom_attribute


@tpns_api(camel=True)
def set_custom_attribute(request, app: Application) -> dict:
    """cmd 1 (add) and 2 (update) set the given attributes, whether the token had them or
    not; 3 deletes the named ones (their values are not compared); 4 deletes all; 5 answers
    them. Unknown or outsider tokens are 1008006, as TPNS's other token APIs answer."""
    command = overview.parse_attribute_command(parse.load(request.body))
    device = None
    if overview.token_known(command.token):
        device = Device.objects.filter(application=app, token=command.token).first()
    if device is None:
        raise TpnsError(
            RetCode.INVALID_TOKEN, f"token: {command.token!r} is not a device of this app"
        )
    answer = {"retCode": RetCode.OK.value, "errMsg": "success"}
    if command.cmd == overview.QUERY:
        return {**answer, "attributeInfo": {"attributeMap": attributes.of(device)}}
    with transaction.atomic():
        if command.cmd in (overview.ADD, overview.UPDATE) and command.attributes:
            if not attributes.set_many(device, command.attributes, clock_now()):
                raise invalid(
                    "attributeInfo.attributeMap",
                    f"a token has at most {attributes.MAX_PER_DEVICE} attributes",
                )
        elif command.cmd == overview.DELETE:
            attributes.delete(device, list(command.attributes))
        elif command.cmd == overview.CLEAR:
            attributes.delete(device)
    if command.invalid:
        answer["invalidAttribute"] = command.invalid
    return answer
