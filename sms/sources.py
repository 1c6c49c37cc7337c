"""What an SMS is sent for: a source type and id, and the session context that groups a sender's
messages.

``sms`` knows one source of its own, ``api`` (sent through the SMS API, no source id). An app that
sends SMS for objects of its own registers their source type once, from its ``AppConfig.ready``
(``push`` registers ``push_delivery``), and ``sms`` never imports it. Each of its messages then
carries ``source_type``, the id of its object in ``source_id`` (at most one live message per
source: ``sms_one_live_message_per_source``), and in ``session_context`` the group it belongs to,
written ``<group>:<id>`` (Tencent echoes it back in receipts): the records page and API find a
group's messages by it (``?<group>=<id>``, ``SmsMessage.objects.of_context``).

The values are data: they are stored in ``SmsMessage.source_type`` and answered by the
management API, so a registered value never changes.
"""


class SourceType(str):
    """A source type: the string stored in ``SmsMessage.source_type``, with its label and, for a
    sender whose messages are grouped, the session contexts' prefix (e.g. ``push``) and the
    records page's filter label (e.g. "Push ID")."""

    label: str
    group: str
    group_label: str

    def __new__(cls, value: str, label: str, *, group: str = "", group_label: str = ""):
        if len(value) > 20:  # SmsMessage.source_type's max_length
            raise ValueError(f"SMS source type {value!r} is over 20 characters")
        source = super().__new__(cls, value)
        source.label, source.group, source.group_label = label, group, group_label
        return source

    def __getnewargs_ex__(self):  # copy and pickle
        return (str(self), self.label), {"group": self.group, "group_label": self.group_label}

    def context(self, group_id: int) -> str:
        """The session context of one group of this source's messages."""
        return f"{self.group}:{group_id}"


API = SourceType("api", "API call")

_registered: dict[str, SourceType] = {str(API): API}


def register(source: SourceType) -> SourceType:
    """Add a source type (idempotent: an app's ``ready`` may run more than once)."""
    known = _registered.setdefault(str(source), source)
    if (known.label, known.group) != (source.label, source.group):
        raise ValueError(f"SMS source type {source!r} is already registered as {known.label!r}")
    return source


def registered() -> list[SourceType]:
    return list(_registered.values())


def choices() -> list[tuple[str, str]]:
    """``SmsMessage.source_type``'s choices (a callable: registering one needs no migration)."""
    return [(str(source), source.label) for source in _registered.values()]


def grouped() -> list[SourceType]:
    """The source types whose messages are grouped by session context."""
    return [source for source in _registered.values() if source.group]
