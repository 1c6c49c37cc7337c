"""What an owner uploads as an application's channel credentials, checked once for the console
and the management API alike: which fields each channel takes, whether the application's
platform can use the channel at all, then the channel module's own ``check_credentials``."""

from __future__ import annotations

import logging

from ..models import CHANNEL_PLATFORMS, Application, ChannelCredentials, ChannelKind, Platform

log = logging.getLogger(__name__)

# The form fields of APNs and FCM (``module(kind).check_credentials`` reads them); the first
# is the secret one (``SECRET_FIELDS``), never shown again once stored. The vendors' modules
# list theirs in ``FIELDS`` (``fields``).
FIELDS = {
    ChannelKind.APNS: ("key", "key_id", "team_id", "topic", "environment"),
    ChannelKind.FCM: ("service_account", "project_id"),
}


def fields(kind: str) -> tuple[str, ...]:
    """The names of a channel's credentials fields."""
    from . import module

    kind = ChannelKind(kind)
    if kind in FIELDS:
        return FIELDS[kind]
    return tuple(field.name for field in module(kind).FIELDS)


def detail_labels(kind: str) -> dict[str, str]:
    """The shown details' labels, in the order they are shown."""
    from . import module

    kind = ChannelKind(kind)
    if kind in DETAIL_LABELS:
        return DETAIL_LABELS[kind]
    return {field.name: field.label for field in module(kind).FIELDS if not field.secret}


# The shown details' labels, in the order they are shown (``ChannelCredentials.details``).
DETAIL_LABELS = {
    ChannelKind.APNS: {
        "key_id": "Key ID",
        "team_id": "Team ID",
        "topic": "Topic (bundle ID)",
        "environment": "Environment",
    },
    ChannelKind.FCM: {
        "project_id": "Project ID",
        "client_email": "Client e-mail",
        "private_key_id": "Private key ID",
    },
}


def platform_refusal(application: Application, kind: str) -> str | None:
    """Why ``application`` cannot use channel ``kind`` (APNs reaches Apple devices only)."""
    kind = ChannelKind(kind)
    if application.platform in CHANNEL_PLATFORMS[kind]:
        return None
    return (
        f"{kind.label} reaches {', '.join(Platform(p).label for p in CHANNEL_PLATFORMS[kind])} "
        f"devices only; {application.name} is an {application.get_platform_display()} "
        "application."
    )


def check(application: Application, kind: str, form: dict) -> tuple[dict, dict[str, str]]:
    """(config for ``store_credentials``, {field: message}); a message not about one field is
    keyed ``""``. Fields another channel takes are refused by name, not silently dropped."""
    from . import module

    kind = ChannelKind(kind)
    if (problem := platform_refusal(application, kind)) is not None:
        return {}, {"": problem}
    names = fields(kind)
    errors = {
        name: f"is not a field of {kind.label} credentials (they take {', '.join(names)})"
        for name in form
        if name not in names
    }
    if errors:
        return {}, errors
    config, errors = module(kind).check_credentials(
        {name: form[name] for name in names if form.get(name) is not None}
    )
    return (config, {}) if not errors else ({}, dict(errors))


def save(application: Application, kind: str, config: dict, *, by=None, now=None):
    """Store a checked config (replacing stored credentials is the rotation); returns
    (credentials, whether they replaced others). Logged without the secret, for the audit."""
    from . import store_credentials

    replaced = ChannelCredentials.objects.filter(application=application, channel=kind).exists()
    credentials = store_credentials(application, kind, config, by=by, now=now)
    log.info(
        "application %s: %s credentials %s (fingerprint %s) by user %s",
        application.pk,
        kind,
        "replaced" if replaced else "stored",
        credentials.fingerprint,
        getattr(by, "pk", None),
    )
    return credentials, replaced


def remove(application: Application, kind: str, *, by=None) -> bool:
    """Delete the application's credentials for ``kind`` (False if it had none): its devices
    on that channel are reached through the built-in one until new credentials are stored."""
    deleted, _ = ChannelCredentials.objects.filter(application=application, channel=kind).delete()
    if deleted:
        log.info(
            "application %s: %s credentials removed by user %s",
            application.pk,
            kind,
            getattr(by, "pk", None),
        )
    return bool(deleted)


def shown(kind: str, details: dict) -> list[tuple[str, str]]:
    """The details of stored credentials as (label, value), known ones first in their order."""
    labels = detail_labels(kind)
    known = [(label, details[key]) for key, label in labels.items() if key in details]
    return known + [(key, value) for key, value in sorted(details.items()) if key not in labels]
