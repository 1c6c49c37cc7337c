from .base import Channel


class BuiltinChannel(Channel):
    """Notifications wait in the device's inbox until the SDK fetches them
    (``GET /sdk/v1/messages``)."""

    name = "builtin"
    queued_is_sent = True

    def send(self, push, deliveries, now) -> int:
        return 0  # nothing to do: fan-out already queued them
