"""Channels hand deliveries to devices. One class per channel behind one base.

The built-in channel queues a notification for the device's ``GET /sdk/v1/messages``: a
delivery is ``sent`` the moment it exists. APNs and FCM (later) will insert deliveries as
``queued`` and send them in batches through ``send``, marking them ``sent`` or ``failed``.
"""

from .base import Channel
from .builtin import BuiltinChannel

CHANNELS = {"builtin": BuiltinChannel()}


def channel_for(application) -> Channel:
    return CHANNELS["builtin"]


__all__ = ["Channel", "BuiltinChannel", "channel_for"]
