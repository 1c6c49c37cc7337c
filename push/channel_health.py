"""An application's delivery channels at a glance: the application page's "Channel health".

For each push service the application has credentials for (APNs, FCM, the vendors), over the last
``WINDOW``: the latest delivery the service accepted, the refusals by reason, the tokens it
pruned (in the window and in all), and the devices registered on it. A service the app has
*no* credentials for but devices registered with its tokens is listed too: those devices are
reached over the built-in channel instead (``push.fanout``).

A few small queries, none of which walks an application's deliveries: the devices are counted
in one grouped pass (which also gives the page's device totals), and the window's deliveries
are found through the pushes that can have been answered in it (``push_app_expiry_idx``),
each probed on a partial index: ``push_delivery_refused_idx`` for the refusals,
``push_delivery_accepted_idx`` for the latest acceptance.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from . import channels
from .models import Application, ChannelKind, Delivery, Device, Push

WINDOW = timedelta(hours=24)
# A push's deliveries are answered before it expires (the sender sends nothing later), or up
# to a lease after (an answer lost); fan-out's refusals of pruned tokens come when it writes,
# which for a huge push may run past a short expiry. An hour covers all of them.
ANSWER_SLACK = timedelta(hours=1)
SERVICES = tuple(channels.SERVICES)  # every push service, in the pages' order
TOP_REASONS = 10


@dataclass
class ChannelHealth:
    channel: str
    label: str
    configured: bool  # the application has credentials for it
    devices: int  # registered on it (the latest registration of each device)
    pruned_recently: int  # of those, tokens refused for good in the window
    pruned_total: int  # tokens refused for good and not registered again since
    last_success: datetime | None = None  # in the window
    refused: int = 0  # in the window
    refused_by_reason: list[tuple[str, int]] = field(default_factory=list)

    @property
    def over_builtin(self) -> bool:
        """Devices registered on a service the app has no credentials for: they are pushed to
        over the built-in channel."""
        return not self.configured and self.devices > 0


@dataclass
class Health:
    since: datetime
    devices: dict  # the application's devices: total, enabled (notifications on)
    builtin_devices: int  # registered on the built-in channel
    channels: list[ChannelHealth]


def of_application(app: Application, now: datetime | None = None) -> Health:
    """The channel health of ``app`` over the ``WINDOW`` before ``now``."""
    now = now or timezone.now()
    since = now - WINDOW
    configured = channels.configured(app.pk)
    by_channel = {
        row.pop("channel"): row
        for row in Device.objects.filter(application=app)
        .values("channel")
        .annotate(
            total=Count("id"),
            enabled=Count("id", filter=Q(notifications_enabled=True)),
            pruned_recently=Count("id", filter=Q(channel_token_invalid_at__gte=since)),
            pruned_total=Count("id", filter=Q(channel_token_invalid_at__isnull=False)),
        )
        .order_by()
    }
    devices = {
        "total": sum(row["total"] for row in by_channel.values()),
        "enabled": sum(row["enabled"] for row in by_channel.values()),
    }
    shown = []
    for kind in SERVICES:
        counts = by_channel.get(kind, {})
        if kind not in configured and not counts.get("total"):
            continue
        shown.append(
            ChannelHealth(
                channel=kind,
                label=ChannelKind(kind).label,
                configured=kind in configured,
                devices=counts.get("total", 0),
                pruned_recently=counts.get("pruned_recently", 0),
                pruned_total=counts.get("pruned_total", 0),
            )
        )
    answered = [h for h in shown if h.configured]
    if answered:
        _answers(app, since, answered)
    return Health(
        since=since,
        devices=devices,
        builtin_devices=by_channel.get(ChannelKind.BUILTIN, {}).get("total", 0),
        channels=shown,
    )


def window_pushes(app: Application, since: datetime):
    """The pushes of ``app`` whose deliveries can have been answered since ``since``."""
    return Push.objects.filter(application=app, expires_at__gte=since - ANSWER_SLACK).order_by()


def refusals(pushes, since: datetime, channels: list[str]):
    """(channel, reason, count) of the refusals answered since ``since``."""
    return (
        Delivery.objects.filter(
            push__in=pushes.values("pk"),
            state=Delivery.State.FAILED,
            answered_at__gte=since,
            channel__in=channels,
        )
        .values_list("channel", "channel_answer")
        .annotate(n=Count("id"))
        .order_by()
    )


def latest_acceptance(push, channel: str, since: datetime):
    """The latest answer time of a delivery of ``push`` (a push or ``OuterRef``) that
    ``channel`` accepted since ``since``: one entry of its index range, from the top."""
    return (
        Delivery.objects.filter(
            push=push,
            channel=channel,
            sent_at__isnull=False,
            answered_at__isnull=False,
            answered_at__gte=since,
        )
        .order_by("-answered_at")
        .values("answered_at")[:1]
    )


def _answers(app: Application, since: datetime, health: list[ChannelHealth]) -> None:
    """The window's refusals and latest acceptances of these channels, in two queries."""
    pushes = window_pushes(app, since)
    refused: dict[str, list[tuple[str, int]]] = {}
    for channel, reason, n in refusals(pushes, since, [h.channel for h in health]):
        refused.setdefault(channel, []).append((reason, n))
    last = pushes.aggregate(
        **{
            h.channel: Max(Subquery(latest_acceptance(OuterRef("pk"), h.channel, since)))
            for h in health
        }
    )
    for h in health:
        ranked = sorted(refused.get(h.channel, []), key=lambda kv: (-kv[1], kv[0]))
        h.refused = sum(n for _, n in ranked)
        h.refused_by_reason = ranked[:TOP_REASONS]
        h.last_success = last[h.channel]
