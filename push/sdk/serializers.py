"""Validation of every SDK request, and the shapes of the answers (also the OpenAPI schema).

A device is named by ``token``; the serializers only check its form, the views look it up among
the authenticated app's devices.
"""

import re

from django.db import transaction
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from push import events, inbox, quiet
from push.models import (
    CHANNEL_PLATFORMS,
    PHONE_ACCOUNT_TYPE,
    TOKEN_MAX_LENGTH,
    ChannelKind,
    Device,
    DeviceAccount,
    DeviceTag,
    Platform,
)
from push.tags import AppTagLimit, check_app_limit
from sms.numbers import InvalidNumber, normalize

MAX_TAGS = 100
INT32_MAX = 2**31 - 1  # DeviceAccount.account_type is an integer column
BIGINT_MAX = 2**63 - 1  # delivery ids
MAX_ACCOUNTS = 100
COUNTRY = re.compile(r"[A-Za-z]{2}")


def component(cls):
    """Name the class's OpenAPI component ``Sdk<Name>``, apart from the management API's."""
    name = cls.__name__.removesuffix("Serializer")
    return extend_schema_serializer(component_name=f"Sdk{name}")(cls)


class TokenField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", TOKEN_MAX_LENGTH)
        kwargs.setdefault("help_text", "The device token returned by register.")
        super().__init__(**kwargs)


def phone_number(value: str) -> str:
    """E.164; a number without a country code is taken as mainland China (+86)."""
    try:
        return normalize(value)
    except InvalidNumber as exc:
        raise serializers.ValidationError(str(exc)) from None


@component
class DeviceRequest(serializers.Serializer):
    token = TokenField()


# Registration


@component
class RegisterSerializer(serializers.Serializer):
    token = TokenField(
        required=False,
        help_text="Refresh this device (the token register returned earlier); omit it to "
        "register a new device.",
    )
    platform = serializers.ChoiceField(
        Platform.choices, help_text="Must be the application's platform."
    )
    app_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    sdk_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    os_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    device_brand = serializers.CharField(max_length=40, required=False, allow_blank=True)
    system_language = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2."
    )
    notifications_enabled = serializers.BooleanField(
        required=False,
        help_text="Whether the user allows notifications (default true for a new device; "
        "unchanged when omitted on a refresh).",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        max_length=MAX_TAGS,
        required=False,
        help_text=f"Replaces the device's tags (at most {MAX_TAGS}); omit to keep them.",
    )
    channel = serializers.ChoiceField(
        ChannelKind.choices,
        required=False,
        help_text="How the device is reached: `apns` (iOS), `fcm`, or a phone maker's channel "
        "(Android: `huawei`, `xiaomi`, `oppo`, `vivo`, `honor`, `meizu`) with `channel_token` "
        "(the vendor SDK's token, regId or pushId), or `builtin` (the SDK's long-poll). A new "
        "device without it uses `builtin`; a refresh without it keeps the channel it had. The "
        "latest registration wins.",
    )
    channel_token = serializers.CharField(
        max_length=4096,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The push service's token for this device: the APNs device token (hex) or "
        "the FCM registration token. Our `token` stays the device's identity.",
    )

    PROFILE = (
        "app_version",
        "sdk_version",
        "os_version",
        "device_brand",
        "system_language",
        "country",
    )

    def validate_platform(self, value):
        app = self.context["application"]
        if value != app.platform:
            raise serializers.ValidationError(
                f"This application is for {app.get_platform_display()}, not {value}."
            )
        return value

    def validate_country(self, value):
        if value and not COUNTRY.fullmatch(value):
            raise serializers.ValidationError("An ISO 3166-1 alpha-2 code, such as CN.")
        return value.upper()

    def validate_tags(self, value):
        return list(dict.fromkeys(value))  # drop repeats, keep the order

    def validate(self, data):
        if "channel" not in data and "channel_token" in data:
            raise serializers.ValidationError({"channel": "Name the channel the token is for."})
        if "channel" in data:
            channel, token = data["channel"], data.get("channel_token", "")
            app = self.context["application"]
            if app.platform not in CHANNEL_PLATFORMS[channel]:
                raise serializers.ValidationError(
                    {
                        "channel": f"{ChannelKind(channel).label} does not reach "
                        f"{app.get_platform_display()} devices."
                    }
                )
            if (problem := ChannelKind.problem_with_token(channel, token)) is not None:
                raise serializers.ValidationError({"channel_token": problem})
        return data

    @transaction.atomic
    def register(self, *, device: Device | None, now) -> tuple[Device, bool]:
        """Create the device (``device`` None) or refresh it; returns it and whether it is new."""
        data = self.validated_data
        app = self.context["application"]
        profile = {name: data[name] for name in self.PROFILE if name in data}
        created = device is None
        if created:
            device = Device(
                application=app,
                token=Device.new_token(),
                platform=data["platform"],
                notifications_enabled=data.get("notifications_enabled", True),
                notifications_changed_at=now,
                created_at=now,
                last_seen_at=now,
                **profile,
            )
            if "channel" in data:
                device.set_channel(data["channel"], data.get("channel_token", ""), now)
            device.save()
        else:
            if "notifications_enabled" in data:
                device.set_notifications(data["notifications_enabled"], now)
            for name, value in profile.items():
                setattr(device, name, value)
            changed = []
            if "channel" in data:
                changed = device.set_channel(data["channel"], data.get("channel_token", ""), now)
            device.last_seen_at = now
            device.save(update_fields=[*profile, *changed, "last_seen_at"])
        if "tags" in data:
            tags = data["tags"]
            try:  # the application's 10,000 tags, as the TPNS tag API keeps them (push.tags)
                check_app_limit(app.pk, tags)
            except AppTagLimit as exc:
                raise serializers.ValidationError({"tags": [str(exc)]}) from None
            DeviceTag.objects.filter(device=device).exclude(tag__in=tags).delete()
            DeviceTag.objects.bulk_create(
                [DeviceTag(device=device, application=app, tag=tag) for tag in tags],
                ignore_conflicts=True,
            )
        return device, created


@component
class RegisteredDeviceSerializer(serializers.Serializer):
    token = serializers.CharField()
    platform = serializers.CharField()
    channel = serializers.CharField(help_text="`builtin`, `apns` or `fcm`.")
    notifications_enabled = serializers.BooleanField()
    app_version = serializers.CharField()
    sdk_version = serializers.CharField()
    os_version = serializers.CharField()
    device_brand = serializers.CharField()
    system_language = serializers.CharField()
    country = serializers.CharField()
    tags = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField(help_text="The bound number (E.164) or null.")
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()

    def get_tags(self, device) -> list[str]:
        return sorted(DeviceTag.objects.filter(device=device).values_list("tag", flat=True))

    def get_phone(self, device) -> str | None:
        return (
            DeviceAccount.objects.filter(device=device, account_type=PHONE_ACCOUNT_TYPE)
            .values_list("account", flat=True)
            .first()
        )


# Phone number and accounts


@component
class PhoneSerializer(DeviceRequest):
    phone = serializers.CharField(
        max_length=32,
        help_text="E.164 such as +8613711112222; without a country code +86 is assumed.",
    )

    def validate_phone(self, value):
        return phone_number(value)


@component
class PhoneAnswer(serializers.Serializer):
    token = serializers.CharField()
    phone = serializers.CharField(allow_null=True)


@component
class BoundAccountSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=128)
    account_type = serializers.IntegerField(
        min_value=0,
        max_value=INT32_MAX,
        default=0,
        help_text=f"TPNS account type; {PHONE_ACCOUNT_TYPE} = phone.",
    )

    def validate(self, attrs):
        if attrs["account_type"] == PHONE_ACCOUNT_TYPE:
            try:
                attrs["account"] = phone_number(attrs["account"])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"account": exc.detail}) from None
        return attrs


@component
class AccountsSerializer(DeviceRequest):
    accounts = serializers.ListField(
        child=BoundAccountSerializer(),
        min_length=1,
        max_length=MAX_ACCOUNTS,
        help_text="One account per type per device: a new one overwrites.",
    )


@component
class AccountsDeleteSerializer(DeviceRequest):
    account_types = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=INT32_MAX),
        max_length=MAX_ACCOUNTS,
        required=False,
        help_text="The types to unbind; omitted: all of the device's accounts.",
    )


@component
class AccountsAnswer(serializers.Serializer):
    token = serializers.CharField()
    deleted = serializers.IntegerField(required=False, help_text="For DELETE: accounts removed.")
    accounts = BoundAccountSerializer(many=True, help_text="The device's accounts now.")


# Notification permission


@component
class NotificationStateSerializer(DeviceRequest):
    enabled = serializers.BooleanField(help_text="Whether the user allows notifications now.")


@component
class NotificationStateAnswer(serializers.Serializer):
    token = serializers.CharField()
    notifications_enabled = serializers.BooleanField()
    changed = serializers.BooleanField()


# Events


@extend_schema_field(
    {
        "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
        "description": "ISO-8601 (UTC if no offset) or unix seconds; default: now; "
        "a future time is taken as now, a time before the push was sent as the time it was "
        "sent.",
    }
)
class EventTimeField(serializers.Field):
    def to_internal_value(self, data):
        try:
            return events.parse_at(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value):
        return value.isoformat()


@component
class DeviceEventSerializer(serializers.Serializer):
    push_id = serializers.CharField(max_length=40, help_text="The push's push_id.")
    type = serializers.ChoiceField(events.EVENT_TYPES)
    at = EventTimeField(required=False, allow_null=True)


@component
class EventsSerializer(DeviceRequest):
    events = serializers.ListField(child=DeviceEventSerializer(), max_length=events.MAX_BATCH)


@component
class EventsAnswer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events that set their timestamp.")
    duplicates = serializers.IntegerField(help_text="Events already recorded: nothing changed.")
    unknown = serializers.IntegerField(
        help_text="Events for pushes this device has no delivery of: ignored."
    )


# The built-in channel's inbox


@component
class MessagesQuery(DeviceRequest):
    after = serializers.IntegerField(
        min_value=0,
        max_value=BIGINT_MAX,
        default=0,
        help_text="The cursor: `next` of the previous answer.",
    )
    wait = serializers.IntegerField(
        min_value=0,
        max_value=30,
        default=0,
        help_text="Long-poll: when nothing is waiting, wait up to this many seconds for it.",
    )

    @classmethod
    def everyday(cls, query) -> dict | None:
        """``validated_data`` for a query in its everyday form (a printable token, plain
        numbers in range), without building a serializer: the long-poll server takes ten
        thousand polls at once after a broadcast, and a serializer's fields cost it more than
        reading their inboxes. None for any other query, which the serializer decides."""
        token = query.get("token")
        if token is None or not _EVERYDAY_TOKEN.fullmatch(token):
            return None
        data = {"token": token}
        for name, most in (("after", BIGINT_MAX), ("wait", 30)):
            value = query.get(name)
            if value is None:
                data[name] = 0
            elif _EVERYDAY_NUMBER.fullmatch(value) and int(value) <= most:
                data[name] = int(value)
            else:
                return None
        return data


# What ``MessagesQuery.everyday`` takes: no spaces to trim, no characters a CharField refuses,
# no signs, decimals or spaces in a number.
_EVERYDAY_TOKEN = re.compile(rf"[\x21-\x7e]{{1,{TOKEN_MAX_LENGTH}}}")
_EVERYDAY_NUMBER = re.compile(r"[0-9]{1,19}")


@component
class InboxMessageSerializer(serializers.Serializer):
    id = serializers.SerializerMethodField(
        help_text="Its place in the inbox: the cursor that comes after it."
    )
    push_id = serializers.CharField(source="push.push_id")
    message_type = serializers.CharField(source="push.message_type")
    title = serializers.CharField(source="push.title")
    content = serializers.CharField(source="push.content")
    message = serializers.JSONField(source="push.message", help_text="The message object.")
    sent_at = serializers.DateTimeField(allow_null=True)
    collapse_id = serializers.IntegerField(
        source="push.collapse_id",
        help_text="TPNS's collapse id: a later notification with the same one replaces this one "
        "(0: none can).",
    )
    show_at = serializers.SerializerMethodField(
        help_text="TPNS's accept_time: when it came outside the push's display windows, the "
        "start of the next one, which the app waits for before showing it; null: show it now."
    )

    @extend_schema_field(serializers.IntegerField())
    def get_id(self, delivery):
        return inbox.place(delivery)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_show_at(self, delivery):
        push = delivery.push
        moment = quiet.show_at(
            (push.message or {}).get("accept_time"),
            self.context["tz"],
            now=self.context["now"],
            expires_at=push.expires_at,
        )
        return None if moment is None else moment.isoformat()


def messages_answer(items, after: int, *, now, tz) -> dict:
    """GET messages' answer to one device (the long-poll server renders the same answer for
    many devices at once: ``push.sdk.longpoll.Renderer``)."""
    context = {"now": now, "tz": tz}
    return {
        "messages": InboxMessageSerializer(items, many=True, context=context).data,
        "next": inbox.place(items[-1]) if items else after,
    }


@component
class MessagesAnswer(serializers.Serializer):
    messages = InboxMessageSerializer(many=True)
    next = serializers.IntegerField(help_text="Pass as `after` next time.")
