"""Channels hand deliveries to devices: one module per channel behind one interface
(``base``). The built-in channel queues a notification for the device's
``GET /sdk/v1/messages``: a delivery is ``sent`` the moment it exists. Deliveries to a push
service (APNs, FCM, the phone makers' channels) are inserted ``queued`` and handed over in
batches by the sender stage (``push.sender``).
"""

import hashlib
import importlib
import json
import secrets
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from ..models import CHANNEL_PLATFORMS, ChannelCredentials, ChannelKind, Push
from .base import Answer, ChannelClient, Prepared, Result

# The push services with a module of their own, in the order the pages list them.
SERVICES = {
    ChannelKind.APNS: "apns",
    ChannelKind.FCM: "fcm",
    **{kind: kind.value for kind in ChannelKind.vendors()},
}
# The field of APNs's and FCM's credentials that is secret (sealed, never shown again); the
# vendors' modules mark theirs in ``FIELDS``.
SECRET_FIELDS = {ChannelKind.APNS: "key", ChannelKind.FCM: "service_account"}
# The receipt key's first characters find its credentials (``ChannelCredentials.receipt_key_id``).
RECEIPT_KEY_ID_LENGTH = 12


def module(kind: str):
    """The module of a push service (``push.channels.apns``, ``push.channels.huawei``…)."""
    return importlib.import_module(f"{__name__}.{SERVICES[ChannelKind(kind)]}")


def is_vendor(kind: str) -> bool:
    return kind in ChannelKind.vendors()


def secret_fields(kind: str) -> tuple[str, ...]:
    """The fields of a channel's credentials that are sealed and never shown again."""
    kind = ChannelKind(kind)
    if kind in SECRET_FIELDS:
        return (SECRET_FIELDS[kind],)
    return tuple(field.name for field in module(kind).FIELDS if field.secret)


def hold_until(kind: str, push, *, now: datetime) -> datetime | None:
    """When the vendor would first take ``push`` if not now (vivo's 07:00–23:00 window for
    operational messages), else None."""
    hold = getattr(module(kind), "hold_until", None)
    return None if hold is None else hold(push, now=now)


def categories(push, services: set[str]) -> list[tuple[str, object]]:
    """The vendor message category ``push`` uses on each vendor channel among ``services``:
    (channel, ``base.Category``), for the console (which categories the vendor caps daily)."""
    return [
        (kind, module(kind).category(push))
        for kind in SERVICES
        if kind in services and is_vendor(kind)
    ]


def configured(application_id: int) -> set[str]:
    """The push services the application has credentials for."""
    return set(
        ChannelCredentials.objects.filter(application_id=application_id).values_list(
            "channel", flat=True
        )
    )


def usable(push, configured_services: set[str] | None = None) -> set[str]:
    """The push services a push's deliveries may take: those its application has credentials
    for (``configured_services`` when the caller has them already) and whose devices its
    platform has, less those its ``channel_rules`` disable (TPNS names them as we do:
    ``apns``, ``fcm``, ``huawei``…; TPNS's own short names ``hw``, ``xm``, ``mz`` too). Kept
    on the push object: acceptance asks more than once."""
    if (known := getattr(push, "_usable_services", None)) is not None:
        return known
    if configured_services is None:
        configured_services = configured(push.application_id)
    platform = push.application.platform
    services = {kind for kind in configured_services if platform in CHANNEL_PLATFORMS[kind]}
    if push.message_type == Push.MessageType.MESSAGE:
        # A vendor without pass-through messages leaves them to the built-in channel, as TPNS
        # did (its own channel carried in-app messages), rather than refusing the push.
        services = {
            kind
            for kind in services
            if not is_vendor(kind) or getattr(module(kind), "PASS_THROUGH", False)
        }
    disabled = {
        TPNS_ALIASES.get(rule.get("channel"), rule.get("channel"))
        for rule in push.options.get("channel_rules", [])
        if rule.get("disable")
    }
    push._usable_services = services - disabled
    return push._usable_services


# Our channels as TPNS names them (its statistics, its channel_rules): the built-in one is
# TPNS's own channel, "xg".
TPNS_NAMES = {
    ChannelKind.BUILTIN: "xg",
    ChannelKind.APNS: "apns",
    ChannelKind.FCM: "fcm",
    ChannelKind.HUAWEI: "hw",
    ChannelKind.XIAOMI: "xm",
    ChannelKind.OPPO: "oppo",
    ChannelKind.VIVO: "vivo",
    ChannelKind.HONOR: "honor",
    ChannelKind.MEIZU: "mz",
}
TPNS_ALIASES = {name: kind.value for kind, name in TPNS_NAMES.items() if name != kind}


def problems(push) -> tuple[str, str] | None:
    """What a channel the push may take cannot carry (its payload over the channel's size
    limit), as (TPNS field, message); checked when the push is accepted."""
    for kind in sorted(usable(push)):
        if (problem := module(kind).problem(push)) is not None:
            return problem
    return None


def per_device_columns(services: set[str], *, now, due, push) -> dict:
    """Fan-out's delivery columns that depend on the device (``DeliveryQuerySet.
    insert_for_devices``'s ``per_device``): a device on one of ``services`` is queued for it,
    or failed at once when its token was refused before; every other device goes to the
    built-in inbox (the columns' plain values). Channel names are our enum's constants."""
    if not services:
        return {}
    listed = ", ".join(f"'{ChannelKind(kind).value}'" for kind in sorted(services))
    ours = f"d.channel IN ({listed})"
    pruned = f"({ours} AND d.channel_token_invalid_at IS NOT NULL)"
    reason = "'pruned: ' || d.channel_token_invalid_reason"
    if skipped := services & uncollapsible(push):
        # TPNS's force_collapse false: a replacing push is not sent where it cannot replace.
        names = ", ".join(f"'{kind}'" for kind in sorted(skipped))
        pruned = f"({pruned} OR d.channel IN ({names}))"
        reason = (
            f"CASE WHEN d.channel IN ({names}) THEN '{NO_COLLAPSE_ANSWER}' "
            "ELSE 'pruned: ' || d.channel_token_invalid_reason END"
        )
    moment = "%s::timestamptz" if connection.vendor == "postgresql" else "%s"
    at = connection.ops.adapt_datetimefield_value(now)
    columns = {
        "channel": (f"CASE WHEN {ours} THEN d.channel ELSE 'builtin' END", []),
        "state": (
            f"CASE WHEN NOT {ours} THEN 'sent' WHEN {pruned} THEN 'failed' ELSE 'queued' END",
            [],
        ),
        "sent_at": (f"CASE WHEN NOT {ours} THEN {moment} END", [at]),
        "send_after": (f"CASE WHEN {ours} AND NOT {pruned} THEN {moment} END", [at]),
        "channel_answer": (
            f"CASE WHEN {pruned} THEN substr({reason}, 1, 100) ELSE '' END",
            [],
        ),
        "answered_at": (f"CASE WHEN {pruned} THEN {moment} END", [at]),
    }
    if due is not None and push.sms_on_refusal:
        # It can never arrive: its SMS is due now (sms_info.send_on_refusal).
        columns["sms_due_at"] = (
            f"CASE WHEN {pruned} THEN {moment} ELSE {moment} END",
            [at, connection.ops.adapt_datetimefield_value(due)],
        )
    return columns


# Channels that cannot replace a notification by key (TPNS: "OPPO/vivo 不支持覆盖").
NO_COLLAPSE = {ChannelKind.OPPO, ChannelKind.VIVO}
NO_COLLAPSE_ANSWER = "not sent: this channel cannot replace a notification (force_collapse)"


def uncollapsible(push) -> set[str]:
    """The channels a push that replaces an earlier one (``collapse_id``) skips: OPPO and vivo
    cannot replace, so TPNS did not send them such a push unless ``force_collapse`` was true."""
    options = push.options or {}
    if not options.get("collapse_id") or options.get("force_collapse"):
        return set()
    return {kind.value for kind in NO_COLLAPSE}


def shown_details(kind: str, config: dict) -> dict:
    """What of a credentials config may be shown: all but the secret fields, and of an FCM
    service account the identifying parts (never its private key)."""
    hidden = {*secret_fields(kind), "receipt_url"}
    details = {key: value for key, value in config.items() if key not in hidden}
    if kind == ChannelKind.FCM:
        account = config[SECRET_FIELDS[ChannelKind.FCM]]
        details["client_email"] = account.get("client_email", "")
        details["private_key_id"] = account.get("private_key_id", "")
    return details


@transaction.atomic
def store_credentials(application, kind: str, config: dict, *, by=None, now=None):
    """Save (or replace: the rotation) an application's credentials for ``kind`` from a
    config its module's ``check_credentials`` validated."""
    from accounts import crypto

    now = now or timezone.now()
    secret = json.dumps(
        {field: config.get(field, "") for field in secret_fields(kind)}, sort_keys=True
    )
    values = {
        "details": shown_details(kind, config),
        "secret_sealed": crypto.seal(secret),
        "fingerprint": hashlib.sha256(secret.encode()).hexdigest()[:12],
        "updated_at": now,
        "updated_by": by,
    }
    credentials, _ = ChannelCredentials.objects.update_or_create(
        application=application,
        channel=kind,
        defaults=values,
        create_defaults={**values, "created_at": now},
    )
    if is_vendor(kind) and not credentials.receipt_key_id:
        # Kept across rotations: the vendor's console may hold the receipt URL.
        new_receipt_key(credentials)
    return credentials


def new_receipt_key(credentials) -> str:
    """Give ``credentials`` a new receipt key (the old receipt URL stops working); the key."""
    from accounts import crypto

    key = secrets.token_hex(RECEIPT_KEY_ID_LENGTH // 2) + secrets.token_urlsafe(24)
    credentials.receipt_key_id = key[:RECEIPT_KEY_ID_LENGTH]
    credentials.receipt_key_sealed = crypto.seal(key)
    credentials.save(update_fields=["receipt_key_id", "receipt_key_sealed"])
    return key


__all__ = [
    "Answer",
    "ChannelClient",
    "Prepared",
    "Result",
    "configured",
    "module",
    "store_credentials",
]
