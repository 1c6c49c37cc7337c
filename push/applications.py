"""An application's life after creation, as the console changes it: edit what the customer may
change, rotate its SecretKey, delete it with everything that belongs to it.

Deleting is two steps. ``delete`` runs in the request and is quick whatever the app's size: it
marks the app deleted (from that commit on ``Application.objects`` no longer finds it, so the
TPNS, SDK and channel APIs refuse its keys), stops its scheduled and running pushes and cancels
every supplementary SMS still waiting, so nothing more is sent or spent for it. ``purge`` then
removes its rows in bounded, set-based chunks (deliveries first, the app's row last): in the
request itself for a small app, in a django-q2 task for a large one (``push.tasks``), and the
minute sweep picks up any purge a lost task left unfinished.

SMS records are the SMS platform's (``sms`` never points at a push: a message names its
delivery by ``source_id`` only) and are kept: the records page, the receipts and the account's
SMS bill do not change when an app is deleted.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, CharField, Count, F, Q, Subquery, Value, When
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.audit import AuditEvent
from sms.models import SmsMessage

from .control import UNDELIVERED
from .models import (
    CHANNEL_PLATFORMS,
    ApiCallCount,
    Application,
    ChannelCredentials,
    Delivery,
    Device,
    DeviceAccount,
    DeviceAttribute,
    DeviceTag,
    Platform,
    Push,
    PushLoop,
    PushPackage,
    PushPackageEntry,
    PushPlan,
    PushStats,
    TagImport,
    TagImportLine,
)
from .sms_source import PUSH_DELIVERY

# Pushes that would still send something: their fan-out, channel sends and SMS are stopped.
LIVE_STATUSES = (Push.Status.INIT, Push.Status.WAIT, Push.Status.STARTED)
# An app with at most this many deliveries and devices is purged in the deleting request
# (a few statements, well under a second); a larger one by a background task.
PURGE_IN_REQUEST = 5_000
# Rows deleted per statement by the purge: each chunk is its own short transaction, so the
# fan-out and the SDK of other apps never wait long on it.
PURGE_CHUNK = 10_000


# Edit


def platform_change_problem(app: Application, platform: str) -> str | None:
    """Why ``app`` cannot move to ``platform``, or None. Devices registered with the SDK of one
    platform, and credentials of a channel the other platform cannot use (APNs on Android),
    would be left wrong: such an app keeps its platform (a new app is the way)."""
    if platform == app.platform:
        return None
    if app.devices.exists():
        return _("Devices are registered with this application; its platform cannot change.")
    unusable = [
        credentials.get_channel_display()
        for credentials in app.channel_credentials.all()
        if platform not in CHANNEL_PLATFORMS[credentials.channel]
    ]
    if unusable:
        return _("Remove the %(channels)s credentials first: %(platform)s cannot use them.") % {
            "channels": ", ".join(unusable),
            "platform": Platform(platform).label,
        }
    return None


def edit(
    app: Application, *, by, name: str, platform: str, package_names: list[str], now=None
) -> list[str]:
    """Change what the customer may change (not the AccessID or the keys), with one audit
    event naming each change; returns the names of the fields that changed. A platform the
    app cannot move to is a ``ValidationError`` on ``platform``."""
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=app.pk)
        if problem := platform_change_problem(locked, platform):
            raise ValidationError({"platform": problem})
        new = {"name": name, "platform": platform, "package_names": list(package_names)}
        changed = [field for field, value in new.items() if getattr(locked, field) != value]
        if not changed:
            return []
        before = {field: getattr(locked, field) for field in changed}
        for field in changed:
            setattr(app, field, new[field])
        app.save(update_fields=changed)
        audit.record(
            app.account,
            by,
            AuditEvent.Action.APPLICATION_EDITED,
            target=f"{locked.name} ({app.access_id})",
            before=_described(before),
            after=_described({field: new[field] for field in changed}),
            detail={"application": app.pk, "access_id": app.access_id, "fields": changed},
            now=now,
        )
    return changed


def _described(values: dict) -> str:
    return "; ".join(
        f"{field}: {', '.join(value) if isinstance(value, list) else value}"
        for field, value in values.items()
    )


# Rotate


def rotate(app: Application, *, by, now=None) -> str:
    """A new SecretKey (returned, to be shown once); the old one is refused from this commit
    on, by Basic auth and signature alike (both read the key from the row each time)."""
    with transaction.atomic():
        old_hint = app.secret_hint
        secret = app.rotate_secret(now=now)
        audit.record(
            app.account,
            by,
            AuditEvent.Action.APPLICATION_SECRET_ROTATED,
            target=f"{app.name} ({app.access_id})",
            before=f"…{old_hint}",
            after=f"…{app.secret_hint}",
            detail={"application": app.pk, "access_id": app.access_id},
            now=now,
        )
    return secret


# Delete


@dataclass(frozen=True)
class Summary:
    """What goes with an application when it is deleted (and what stays)."""

    devices: int
    pushes: int
    live_pushes: int  # scheduled or sending: stopped
    deliveries: int
    tags: int  # distinct tag names
    tagged_devices: int  # device-tag rows
    channel_credentials: int
    packages: int  # uploaded account and token packages
    sms_kept: int  # supplementary SMS records: kept (the SMS platform's)

    @property
    def purged_in_request(self) -> bool:
        return self.deliveries + self.devices <= PURGE_IN_REQUEST


def _app_push_contexts(app_id: int):
    """The session contexts (``push:<id>``) of the app's pushes, as a subquery."""
    return (
        Push.objects.filter(application_id=app_id)
        .annotate(context=Concat(Value(f"{PUSH_DELIVERY.group}:"), Cast("pk", CharField())))
        .values("context")
    )


def summary(app: Application) -> Summary:
    """Counted with a handful of indexed aggregates (no row is loaded)."""
    pushes = Push.objects.filter(application=app).aggregate(
        all=Count("pk"), live=Count("pk", filter=Q(status__in=LIVE_STATUSES))
    )
    tags = DeviceTag.objects.filter(application=app).aggregate(
        names=Count("tag", distinct=True), rows=Count("pk")
    )
    return Summary(
        devices=Device.objects.filter(application=app).count(),
        pushes=pushes["all"],
        live_pushes=pushes["live"],
        deliveries=Delivery.objects.filter(push__application=app).count(),
        tags=tags["names"],
        tagged_devices=tags["rows"],
        channel_credentials=ChannelCredentials.objects.filter(application=app).count(),
        packages=PushPackage.objects.filter(application=app).count(),
        sms_kept=SmsMessage.objects.filter(
            source_type=PUSH_DELIVERY, session_context__in=_app_push_contexts(app.pk)
        ).count(),
    )


def delete(app: Application, *, by, now: datetime | None = None) -> Summary:
    """Delete ``app`` for everyone at once (see the module); returns what went with it.

    In one transaction under the app's row lock: the app is marked deleted; its live pushes
    become ``PUSH_CANCELED`` (a fan-out between chunks sees it and writes no more, as with a
    stop, ``push.control``); its undelivered deliveries are canceled and every supplementary
    SMS still waiting is decided ``canceled``, so the SMS engine never claims one. The rows go
    after the commit (``purge``)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Application.objects.select_for_update().filter(pk=app.pk).first()
        if locked is None:  # deleted meanwhile (a second click)
            return summary(app)
        gone = summary(locked)
        Application.all_objects.filter(pk=app.pk).update(deleted_at=now)
        Push.objects.filter(application=app, status__in=LIVE_STATUSES).update(
            status=Push.Status.CANCELED, stopped_at=now
        )
        waiting = Q(fallback=Delivery.Fallback.WAITING)
        Delivery.objects.filter(push__application=app).filter(UNDELIVERED | waiting).update(
            state=_case(UNDELIVERED, Value(Delivery.State.CANCELED), F("state")),
            fallback=_case(waiting, Value(Delivery.Fallback.DECIDED), F("fallback")),
            outcome=_case(waiting, Value(Delivery.Outcome.CANCELED), F("outcome")),
            outcome_detail=_case(waiting, Value("application deleted"), F("outcome_detail")),
            decided_at=_case(waiting, Value(now), F("decided_at")),
        )
        audit.record(
            app.account,
            by,
            AuditEvent.Action.APPLICATION_DELETED,
            target=f"{locked.name} ({locked.access_id})",
            before=locked.get_platform_display(),
            detail={
                "application": app.pk,
                "access_id": locked.access_id,
                "devices": gone.devices,
                "pushes": gone.pushes,
                "deliveries": gone.deliveries,
                "stopped_pushes": gone.live_pushes,
                "sms_kept": gone.sms_kept,
            },
            now=now,
        )
        if not gone.purged_in_request:
            transaction.on_commit(lambda: queue_purge(app.pk), robust=True)
    app.deleted_at = now
    if gone.purged_in_request:
        purge(app.pk)
    return gone


def _case(condition: Q, then, default) -> Case:
    return Case(When(condition, then=then), default=default)


def queue_purge(app_id: int) -> None:
    from django_q.tasks import async_task

    async_task("push.tasks.purge_application", app_id, task_name=f"purge application {app_id}")


def _chunk(model, rows) -> int:
    """Delete up to ``PURGE_CHUNK`` of ``rows`` in one ``DELETE … WHERE id IN (SELECT … LIMIT)``.
    ``_raw_delete``: the rows' dependants are deleted by the earlier steps, so Django's collector
    (which would load every row to cascade) has nothing to do."""
    ids = rows.order_by().values("pk")[:PURGE_CHUNK]
    return model._base_manager.filter(pk__in=Subquery(ids))._raw_delete(connection.alias)


def _steps(app_id: int):
    """What belongs to the app, in an order that deletes each row's dependants first."""
    return [
        (Delivery, Delivery.objects.filter(push__application_id=app_id)),
        (PushStats, PushStats.objects.filter(push__application_id=app_id)),
        (Push, Push.objects.filter(application_id=app_id)),
        (PushPackageEntry, PushPackageEntry.objects.filter(package__application_id=app_id)),
        (PushPackage, PushPackage.objects.filter(application_id=app_id)),
        (PushLoop, PushLoop.objects.filter(application_id=app_id)),
        (PushPlan, PushPlan.objects.filter(application_id=app_id)),
        (TagImportLine, TagImportLine.objects.filter(job__application_id=app_id)),
        (TagImport, TagImport.objects.filter(application_id=app_id)),
        (DeviceTag, DeviceTag.objects.filter(application_id=app_id)),
        (DeviceAttribute, DeviceAttribute.objects.filter(application_id=app_id)),
        (DeviceAccount, DeviceAccount.objects.filter(application_id=app_id)),
        # Deliveries of the app's devices are gone with its pushes (a push reaches only its
        # own application's devices).
        (Device, Device.objects.filter(application_id=app_id)),
        (ApiCallCount, ApiCallCount.objects.filter(application_id=app_id)),
        (ChannelCredentials, ChannelCredentials.objects.filter(application_id=app_id)),
    ]


def purge(app_id: int, *, seconds: float | None = None, clock=time.monotonic) -> bool:
    """Remove a deleted application's rows, chunk by chunk, then its own row; True once it is
    gone (or was never deleted: a live app is never touched). With ``seconds``, stops after the
    chunk that passes it and returns False (the caller queues the rest)."""
    if not Application.all_objects.filter(pk=app_id, deleted_at__isnull=False).exists():
        return True
    deadline = None if seconds is None else clock() + seconds
    while True:
        try:
            for model, rows in _steps(app_id):
                while _chunk(model, rows):
                    if deadline is not None and clock() >= deadline:
                        return False
            with transaction.atomic():
                Application.all_objects.filter(pk=app_id).delete()
            return True
        except IntegrityError:
            # A push accepted by a request that authenticated just before the deletion wrote
            # rows after their step ran: go round again (they are few).
            continue


def purge_deleted(seconds: float = 10.0, clock=time.monotonic) -> int:
    """The minute sweep's safety net: carry on every purge a lost task left; returns how many
    applications are gone."""
    done = 0
    deadline = clock() + seconds
    for app_id in Application.all_objects.filter(deleted_at__isnull=False).values_list(
        "pk", flat=True
    ):
        left = deadline - clock()
        if left <= 0:
            break
        done += purge(app_id, seconds=left, clock=clock)
    return done
