"""Accepting a push request (a TPNS ``/v3/push/app`` body): the one code path for the API and
the console's composer. Validates with ``parse``, honours Idempotency-Key, applies the 1-per-
second limit of all/tag pushes, and records the push in one transaction (all or nothing). A
loop push is recorded as one push per occurrence (``push.loops``), each scheduled, linked by
their ``PushLoop``; the first is returned, ``loop_pushes`` lists them all.
"""

import copy
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from push import fanout
from push.models import Application, Push, PushLoop

from . import RetCode, TpnsError, invalid, parse

IDEMPOTENCY_WINDOW = timedelta(hours=24)
BROADCAST_INTERVAL = timedelta(seconds=1)  # all / tag pushes per app (TPNS: 1 per second)
# The option that marks a console test push (a push of the composed message to one device):
# not a TPNS field, so no API request can set it (``parse`` keeps only the fields it knows).
TEST_OPTION = "console_test"


def submit(
    app: Application,
    data: dict,
    *,
    now: datetime,
    idempotency_key: str = "",
    request_hash: str = "",
    created_by=None,
    test: bool = False,
) -> Push:
    """Validate and record a push; raises TpnsError (ret_code + a message naming the field).
    ``test``: a console test push (``TEST_OPTION`` in its options), listed as a test."""
    if idempotency_key and (earlier := _earlier_push(app, idempotency_key, request_hash, now)):
        return earlier
    push = parse.parse_push(app, data, now=now)
    push.idempotency_key, push.request_hash = idempotency_key, request_hash
    push.created_by = created_by
    if test:
        push.options = {**push.options, TEST_OPTION: True}
    return _record(push, now)


def _earlier_push(app: Application, key: str, request_hash: str, now: datetime) -> Push | None:
    """The push this Idempotency-Key already created, if it was within 24 hours.

    An older push gives its key up (the unique constraint would refuse the new push otherwise).
    """
    Push.objects.filter(
        application=app, idempotency_key=key, created_at__lt=now - IDEMPOTENCY_WINDOW
    ).update(idempotency_key="")
    earlier = Push.objects.filter(application=app, idempotency_key=key).first()
    if earlier is not None and earlier.request_hash != request_hash:
        raise invalid(
            "Idempotency-Key", _("already used with another request body in the last 24 hours")
        )
    return earlier


def _record(push: Push, now: datetime) -> Push:
    """Accept the push in one transaction: all of it is written, or nothing."""
    app, key = push.application, push.idempotency_key
    try:
        with transaction.atomic():
            if push.audience_type in Push.Audience.BROADCASTS:
                # Serialise the app's all/tag pushes so that two at once cannot both pass the
                # 1-per-second check; list pushes do not wait for each other.
                Application.objects.select_for_update().filter(pk=app.pk).values_list("pk").get()
                if key and (earlier := _earlier_push(app, key, push.request_hash, now)):
                    return earlier
                _check_broadcast_rate(app, now)
            if push.loop_occurrences:
                return _record_loop(push, now)
            return fanout.accept(push, now=now)
    except IntegrityError:
        # Another request with the same Idempotency-Key won the race: the partial unique
        # constraint refused ours. Answer with the winner's push.
        earlier = key and _earlier_push(app, key, push.request_hash, now)
        if not earlier:
            raise
        return earlier


def _record_loop(push: Push, now: datetime) -> Push:
    """One scheduled push per occurrence; the first carries the request's Idempotency-Key."""
    loop = PushLoop.objects.create(
        application=push.application,
        definition={
            key: push.options[key]
            for key in ("loop_param", "loop_times", "loop_interval")
            if key in push.options
        },
        time_zone=push.application.account.time_zone,
        created_at=now,
    )
    pushes = []
    for i, moment in enumerate(push.loop_occurrences):
        occurrence = copy.copy(push)
        occurrence._state = copy.copy(push._state)  # its own "adding" and related caches
        occurrence._state.fields_cache = dict(push._state.fields_cache)
        occurrence.loop, occurrence.send_at = loop, moment
        if i:
            occurrence.idempotency_key = ""
        pushes.append(fanout.accept(occurrence, now=now))
    first = pushes[0]
    first.loop_pushes = pushes
    return first


def loop_pushes(push: Push) -> list[Push]:
    """The pushes of ``push``'s loop in the order they go out (``[push]`` if it does not loop)."""
    if push.loop_id is None:
        return [push]
    if (known := getattr(push, "loop_pushes", None)) is not None:
        return known
    return list(Push.objects.filter(loop_id=push.loop_id).order_by("send_at", "pk"))


def _check_broadcast_rate(app: Application, now: datetime) -> None:
    recent = Push.objects.filter(
        application=app,
        audience_type__in=Push.Audience.BROADCASTS,
        created_at__gt=now - BROADCAST_INTERVAL,
    )
    if recent.exists():
        raise TpnsError(
            RetCode.TOO_FAST,
            _("all, tag and package pushes are limited to 1 per second per app"),
            field="audience_type",
        )
