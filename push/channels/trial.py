"""The Test action of an application's channel credentials: one notification to one device,
through the same channel module and the same cached client as the sender stage, so a Test
that passes means the sender can deliver with these credentials.

The console and the management API both call ``send_test``; neither sends on its own.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from ..models import ChannelCredentials, ChannelKind, Device, Push
from .base import Answer, Result

log = logging.getLogger(__name__)

TITLE = "pushconsole test"
CONTENT = "A test notification: this device can be reached through its push service."
# A test that waits in APNs or FCM for an offline device is no use days later.
LIFETIME = timedelta(seconds=Push.EXPIRE_FLOOR)


def refusal(credentials: ChannelCredentials, device: Device) -> str | None:
    """Why ``device`` cannot be sent a test through ``credentials``, in words, or None."""
    wanted = ChannelKind(credentials.channel)
    if device.application_id != credentials.application_id:
        return "This device belongs to another application."
    if device.channel != wanted:
        return (
            f"This device is on the {ChannelKind(device.channel).label} channel, not on "
            f"{wanted.label}: its app registered it there, so a test through {wanted.label} "
            "would prove nothing."
        )
    if not device.channel_token:
        return f"This device has no {wanted.label} token."
    if device.channel_token_invalid_at is not None:
        when = timezone.localtime(device.channel_token_invalid_at).strftime("%Y-%m-%d %H:%M %Z")
        why = device.channel_token_invalid_reason or "no reason given"
        return (
            f"This device's {wanted.label} token was refused for good on {when} ({why}); it is "
            "not pushed to until the app registers a token again."
        )
    return None


def trial_push(device: Device, *, now, title: str, content: str) -> Push:
    """The unsaved push a Test sends: a notification to the one device, in the credentials'
    own environment (a blank ``environment`` makes ``sender.environment_of`` take theirs)."""
    return Push(
        # No push record: the id the app's SDK would report events with names no push.
        id=0,
        application=device.application,
        audience_type=Push.Audience.TOKEN,
        audience={"token_list": [device.token]},
        message_type=Push.MessageType.NOTIFY,
        title=title,
        content=content,
        message={"title": title, "content": content},
        expire_time=int(LIFETIME.total_seconds()),
        created_at=now,
        expires_at=now + LIFETIME,
    )


def send_test(
    credentials: ChannelCredentials,
    device: Device,
    *,
    now: datetime | None = None,
    title: str = TITLE,
    content: str = CONTENT,
) -> tuple[Answer, str]:
    """Send a test notification to ``device`` through ``credentials``; the channel's answer
    and that answer in words. Raises ValueError (a message for people) when the device cannot
    be tested through this channel (``refusal``). A dead-token answer prunes the device's token
    as the sender would, and the words say so."""
    from .. import channels, sender

    now = now or timezone.now()
    if (problem := refusal(credentials, device)) is not None:
        raise ValueError(problem)
    module = channels.module(credentials.channel)
    push = trial_push(device, now=now, title=title, content=content)
    try:
        prepared = module.prepare(push, now=now)
    except ValueError as exc:  # what the channel cannot carry (a title past its limit)
        raise ValueError(f"The test message cannot be sent: {exc}") from None
    token = device.channel_token
    # The client's own timeouts answer first; this only bounds a client that hangs.
    timeout = 2 * settings.PUSH_CHANNEL_TIMEOUT + 5
    try:
        client = sender.LOOP.client(credentials, sender.environment_of(push, credentials))
        [answer] = sender.LOOP.run(client.send(prepared, [token]), timeout)
    except TimeoutError:  # concurrent.futures.TimeoutError is this one
        answer = Answer(Result.LOST, reason="timeout")
    except Exception as exc:  # a client bug: report it, never its message (it may quote config)
        log.error(
            "channel test: application %s, %s: %s",
            credentials.application_id,
            credentials.channel,
            type(exc).__name__,
        )
        answer = Answer(Result.LOST, reason=type(exc).__name__)
    description = module.describe(answer).rstrip()
    if not description.endswith("."):
        description += "."
    if answer.result in (Result.RETRY, Result.LOST):
        # The module's words are the sender's (which tries again); nothing retries a test.
        description += " This was a test: it is not sent again by itself."
    if answer.prune:
        pruned = Device.objects.prune_tokens(
            [(device.pk, token, now, answer.reason, answer.token_invalid_since)]
        )
        if pruned:
            description += " pushconsole marked the device's token invalid."
        else:  # registered again since the channel last knew it dead (prune_tokens)
            description += " The app registered this token again since: it stays in use."
    log.info(
        "channel test: application %s, %s, device %s: %s %s",
        credentials.application_id,
        credentials.channel,
        device.pk,
        answer.result,
        answer.reason,
    )
    return answer, description
