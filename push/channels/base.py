class Channel:
    name = ""
    # True when being queued for the device is being sent (the built-in inbox): fan-out then
    # inserts deliveries as ``sent`` in the same statement, with no second pass.
    queued_is_sent = False

    def send(self, push, deliveries, now) -> int:
        """Hand ``queued`` deliveries (a QuerySet) to the devices; return how many went out."""
        raise NotImplementedError
