"""The push platform: applications, devices and their bindings, pushes and deliveries.

A push creates one Delivery per target device (``push.fanout``); the channel hands it to the
device (``push.channels``); the SDK reports arrival, click and dismissal (``/sdk/v1/events``);
the supplementary SMS engine (``push.fallback``) decides the deliveries whose SMS falls due.
"""

import enum
import hmac
import json
import re
import secrets
import string
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts import crypto
from accounts.models import Account, random_string, sign
from lib.values import columns_of, values_table
from sms import sending
from sms.rules import Rule

PHONE_ACCOUNT_TYPE = 1002  # TPNS account type of a mobile number (E.164)
TOKEN_MAX_LENGTH = 36


class Platform(models.TextChoices):
    ANDROID = "android", "Android"
    IOS = "ios", "iOS"


class ChannelKind(models.TextChoices):
    """How a device is reached: our built-in channel (the SDK's long-poll), or a push service
    with the token it gave the app (``Device.channel_token``)."""

    BUILTIN = "builtin", _("Built-in (SDK long-poll)")
    APNS = "apns", "Apple Push Notification service"
    FCM = "fcm", "Firebase Cloud Messaging"
    # The phone makers' own channels (Android phones in mainland China have no Google
    # services): what TPNS called its vendor channels.
    HUAWEI = "huawei", "Huawei Push Kit"
    XIAOMI = "xiaomi", "Xiaomi MiPush"
    OPPO = "oppo", "OPPO Push"
    VIVO = "vivo", "vivo Push"
    HONOR = "honor", "Honor Push"
    MEIZU = "meizu", "Meizu Flyme Push"

    @classmethod
    def vendors(cls) -> tuple["ChannelKind", ...]:
        """The phone makers' channels: Android only, with server-side receipts."""
        return (cls.HUAWEI, cls.XIAOMI, cls.OPPO, cls.VIVO, cls.HONOR, cls.MEIZU)

    @classmethod
    def problem_with_token(cls, channel: str, token: str) -> str | None:
        """Why ``token`` cannot be a token of ``channel``, or None.

        APNs device tokens are hex (32 bytes today; Apple warns the length may grow, so up to
        100 bytes are taken). FCM registration tokens are opaque: letters, digits and ``-_:``,
        at most 4,096 characters. The built-in channel needs none: our token names the device."""
        if channel == cls.BUILTIN:
            return "the built-in channel takes no channel token" if token else None
        if not token:
            return f"required with the {cls(channel).label}"
        if channel == cls.APNS:
            if len(token) % 2 or not 64 <= len(token) <= 200 or not _HEX.fullmatch(token):
                return "an APNs device token is 64 (to 200) hexadecimal characters"
        elif channel == cls.FCM:
            if not (len(token) <= 4096 and _FCM_TOKEN.fullmatch(token)):
                return "an FCM registration token is letters, digits and -_: (at most 4096)"
        elif not (len(token) <= VENDOR_TOKEN_MAX_LENGTH and _VENDOR_TOKEN.fullmatch(token)):
            # Huawei's tokens are ~130 characters, Xiaomi's and OPPO's regIds ~44-70, vivo's
            # ~23, Meizu's pushIds ~36: opaque, printable, never with a comma (Xiaomi's list
            # separator) or a space.
            return (
                f"a {cls(channel).label} token is letters, digits and -_:+/=. "
                f"(at most {VENDOR_TOKEN_MAX_LENGTH})"
            )
        return None


# Which platforms a channel reaches (APNs: Apple's devices only).
CHANNEL_PLATFORMS = {
    ChannelKind.BUILTIN: (Platform.ANDROID, Platform.IOS),
    ChannelKind.APNS: (Platform.IOS,),
    ChannelKind.FCM: (Platform.ANDROID, Platform.IOS),
    **{kind: (Platform.ANDROID,) for kind in ChannelKind.vendors()},
}
_HEX = re.compile(r"[0-9a-fA-F]+")
_FCM_TOKEN = re.compile(r"[A-Za-z0-9_:\-]+")
# A vendor token is at most this long: receipts find the device by it through a btree index
# (``push_device_vendor_token_idx``), whose entries must stay well under a page.
VENDOR_TOKEN_MAX_LENGTH = 512
_VENDOR_TOKEN = re.compile(r"[A-Za-z0-9_:+/=.\-]+")


class ApplicationQuerySet(models.QuerySet):
    def create_for(self, account, *, name, platform, package_names=()):
        """A new application with its keys; returns it and its SecretKey (shown once)."""
        secret = random_string(32, string.hexdigits.lower()[:16])
        for _attempt in range(10):
            try:
                with transaction.atomic():
                    app = self.create(
                        account=account,
                        name=name,
                        platform=platform,
                        access_id=1_500_000_000 + secrets.randbelow(99_999_999),
                        access_key=random_string(12, string.ascii_uppercase + string.digits),
                        secret_sealed=crypto.seal(secret),
                        secret_hint=secret[-4:],
                        package_names=list(package_names),
                    )
                return app, secret
            except IntegrityError:
                continue  # an AccessID collision: draw again
        raise IntegrityError("could not allocate a free AccessID")


class ApplicationManager(models.Manager.from_queryset(ApplicationQuerySet)):
    """Applications that are not deleted: every look-up by key (TPNS, SDK, long poll, channel
    API) and every console page goes through it, so a deleted app's keys are refused from the
    moment ``push.applications.delete`` commits, before its rows are purged. Related-object
    access (``device.application``) uses the base manager and still finds it."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Application(models.Model):
    """An app on one platform, as in TPNS: AccessID + AccessKey (SDK) + SecretKey (server)."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="push_apps", verbose_name=_("account")
    )
    name = models.CharField(max_length=100, verbose_name=_("name"))
    platform = models.CharField(max_length=10, choices=Platform.choices, verbose_name=_("platform"))
    access_id = models.BigIntegerField(_("AccessID"), unique=True)
    access_key = models.CharField(_("AccessKey"), max_length=32)
    secret_sealed = models.TextField(verbose_name=_("secret sealed"))
    secret_hint = models.CharField(max_length=4, verbose_name=_("secret hint"))
    secret_rotated_at = models.DateTimeField(
        default=timezone.now, verbose_name=_("secret rotated at")
    )
    package_names = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Other package names of the app (multi_pkg)."),
        verbose_name=_("package names"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    # Set by ``push.applications.delete``: the app is gone for everyone at once, and its rows
    # are purged in the background (``push.applications.purge``), then this row itself.
    deleted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("deleted at"))

    objects = ApplicationManager()
    all_objects = ApplicationQuerySet.as_manager()  # deleted ones too: the purge

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name} ({self.get_platform_display()}, {self.access_id})"

    @property
    def masked_secret(self) -> str:
        return f"{'•' * 12}{self.secret_hint}"

    def secret_key(self) -> str:
        return crypto.unseal(self.secret_sealed)

    def check_secret(self, secret_key: str) -> bool:
        return hmac.compare_digest(self.secret_key().encode(), secret_key.encode())

    def check_signature(self, timestamp: str, signature: str, body: bytes) -> bool:
        """TPNS signature: Base64(hex(HMAC-SHA256(SecretKey, TimeStamp + AccessId + body)))."""
        expected = sign(self.secret_key(), timestamp, str(self.access_id), body)
        return hmac.compare_digest(expected.encode(), signature.encode())

    def check_access_key(self, access_key: str) -> bool:
        return hmac.compare_digest(self.access_key.encode(), access_key.encode())

    @transaction.atomic
    def rotate_secret(self, now=None) -> str:
        """A new SecretKey (returned once); the old one stops working at once. The row lock
        makes two rotations at the same moment happen one after the other."""
        Application.objects.select_for_update().filter(pk=self.pk).exists()
        secret = random_string(32, string.hexdigits.lower()[:16])
        self.secret_sealed, self.secret_hint = crypto.seal(secret), secret[-4:]
        self.secret_rotated_at = now or timezone.now()
        self.save(update_fields=["secret_sealed", "secret_hint", "secret_rotated_at"])
        return secret


class ChannelCredentials(models.Model):
    """An application's credentials for one delivery channel (APNs, FCM), as its owner
    uploaded them: the secret part (the .p8 key, the service-account JSON) sealed like the
    Tencent Cloud key and never shown again; the rest (key id, team id, topic, environment;
    project id and client e-mail) shown. Replacing them is the rotation."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="channel_credentials"
    )
    channel = models.CharField(max_length=10, choices=ChannelKind.choices)
    details = models.JSONField(default=dict, help_text="What may be shown.")
    secret_sealed = models.TextField()
    # Tells one uploaded secret from another without showing it (after a rotation).
    fingerprint = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The vendors' receipts (``push.receipts``) reach /callbacks/push/<channel>/<receipt key>:
    # its first ``RECEIPT_KEY_ID_LENGTH`` characters find the row, the whole key (sealed, as
    # the sender puts it in each message's callback URL) vouches for the caller.
    receipt_key_id = models.CharField(max_length=16, unique=True, null=True, blank=True)
    receipt_key_sealed = models.TextField(blank=True)
    # A vendor that refused because the app's daily quota is spent: until then its deliveries
    # go over the built-in channel without asking it (``push.sender``), as TPNS did.
    quota_spent_until = models.DateTimeField(null=True, blank=True)
    quota_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name_plural = "channel credentials"
        constraints = [
            models.UniqueConstraint(
                fields=["application", "channel"], name="push_one_credential_per_channel"
            ),
            models.CheckConstraint(
                condition=~Q(channel=ChannelKind.BUILTIN), name="push_credentials_not_builtin"
            ),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} credentials of {self.application}"

    def config(self) -> dict:
        """The whole configuration, secret included (in memory only, for a channel client),
        with ``receipt_url``: where the vendor posts this app's receipts ("" when
        ``PUSH_RECEIPT_BASE_URL`` is not set or the channel has none)."""
        return {
            **self.details,
            **json.loads(crypto.unseal(self.secret_sealed)),
            "receipt_url": self.receipt_url(),
        }

    def receipt_key(self) -> str:
        return crypto.unseal(self.receipt_key_sealed) if self.receipt_key_sealed else ""

    def receipt_url(self, base: str | None = None) -> str:
        """The address of this app's receipts for the vendor (``base``: this server's public
        address; default ``PUSH_RECEIPT_BASE_URL``)."""
        base = settings.PUSH_RECEIPT_BASE_URL if base is None else base
        key = self.receipt_key()
        if not base or not key:
            return ""
        return f"{base.rstrip('/')}/callbacks/push/{self.channel}/{key}"

    def quota_spent(self, now) -> bool:
        return self.quota_spent_until is not None and self.quota_spent_until > now

    @property
    def version(self) -> tuple:
        """Changes whenever the credentials do: a cached client of older ones is dropped."""
        return (self.pk, self.fingerprint, self.updated_at)


class DeviceQuerySet(models.QuerySet):
    def prune_tokens(self, rows: list[tuple]) -> int:
        """Mark channel tokens refused for good as invalid, in one statement. ``rows`` are
        ``(device id, the token that was refused, at, reason, invalid since)``. A device that
        has registered another token since is left alone, and so is one that registered this
        token again after ``invalid since`` (APNs's 410 timestamp: Apple's word is older than
        the app's)."""
        if not rows:
            return 0
        table = self.model._meta.db_table
        values, params = values_table(
            [
                ("id", "bigint"),
                ("token", "varchar"),
                ("at", "timestamptz"),
                ("reason", "varchar"),
                ("since", "timestamptz"),
            ],
            [
                (i, token, _moment(at), reason, _moment(since))
                for i, token, at, reason, since in rows
            ],
        )
        sql = f"""
            UPDATE {table} SET channel_token_invalid_at = v.at,
                channel_token_invalid_reason = v.reason
            FROM {values}
            WHERE {table}.id = v.id AND {table}.channel_token = v.token
                AND {table}.channel_token_invalid_at IS NULL
                AND (v.since IS NULL OR {table}.channel_token_at IS NULL
                    OR {table}.channel_token_at < v.since)
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount


class Device(models.Model):
    """A device of an application, known by its token."""

    # Indexed with the id (``push_device_app_idx``): fan-out walks an app's devices in id order.
    application = models.ForeignKey(
        Application,
        on_delete=models.CASCADE,
        related_name="devices",
        db_index=False,
        verbose_name=_("application"),
    )
    token = models.CharField(max_length=TOKEN_MAX_LENGTH, verbose_name=_("token"))
    platform = models.CharField(max_length=10, choices=Platform.choices, verbose_name=_("platform"))
    app_version = models.CharField(max_length=40, blank=True, verbose_name=_("app version"))
    sdk_version = models.CharField(max_length=40, blank=True, verbose_name=_("SDK version"))
    os_version = models.CharField(max_length=40, blank=True, verbose_name=_("OS version"))
    device_brand = models.CharField(max_length=40, blank=True, verbose_name=_("device brand"))
    system_language = models.CharField(max_length=20, blank=True, verbose_name=_("system language"))
    country = models.CharField(max_length=2, blank=True, verbose_name=_("country"))
    notifications_enabled = models.BooleanField(
        default=True, verbose_name=_("notifications enabled")
    )
    notifications_changed_at = models.DateTimeField(
        default=timezone.now, verbose_name=_("notifications changed at")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    last_seen_at = models.DateTimeField(default=timezone.now, verbose_name=_("last seen at"))
    # How the device is reached, and the push service's token for it (the latest registration
    # wins). ``token`` above stays the device's identity for every server API. A token the
    # service refused for good is marked invalid (time and reason) and not pushed to again
    # until the device registers a new one.
    channel = models.CharField(
        max_length=10,
        choices=ChannelKind.choices,
        default=ChannelKind.BUILTIN,
        verbose_name=_("channel"),
    )
    channel_token = models.CharField(max_length=4096, blank=True, verbose_name=_("channel token"))
    channel_token_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("channel token at")
    )
    channel_token_invalid_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("channel token invalid at")
    )
    channel_token_invalid_reason = models.CharField(
        max_length=100, blank=True, verbose_name=_("channel token invalid reason")
    )

    objects = DeviceQuerySet.as_manager()

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = pgettext_lazy("admin", "devices")
        constraints = [
            models.UniqueConstraint(fields=["application", "token"], name="push_device_token")
        ]
        indexes = [
            models.Index(fields=["application", "id"], name="push_device_app_idx"),
            # The console's token search is a prefix match (LIKE 'abc%'), which the unique
            # index serves only under the C collation; this one serves it under any.
            models.Index(
                fields=["application", "token"],
                opclasses=["int8_ops", "varchar_pattern_ops"],
                name="push_device_token_prefix_idx",
            ),
            # A vendor's receipts name the device by its vendor token (``push.receipts``).
            models.Index(
                fields=["application", "channel_token"],
                name="push_device_vendor_token_idx",
                condition=Q(channel__in=[kind.value for kind in ChannelKind.vendors()]),
            ),
            # The console's devices list sorted by a column (``push.views.devices``, read one
            # application at a time by ``lib.paging.merged_rows``): its first page is the
            # first rows of each of these, either way. The token order is the unique index's.
            # last_seen_at changes only when a device registers again (``push.sdk``), so this
            # costs that write an index entry, not the polls and events.
            models.Index(
                fields=["application", "notifications_enabled", "id"],
                name="push_device_notif_sort_idx",
            ),
            models.Index(
                fields=["application", "app_version", "id"], name="push_device_version_sort_idx"
            ),
            models.Index(
                fields=["application", "last_seen_at", "id"], name="push_device_seen_sort_idx"
            ),
        ]

    def __str__(self):
        return self.token

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(16) + secrets.token_hex(2)  # 36 hex characters, as TPNS

    def set_channel(self, channel: str, channel_token: str, now) -> list[str]:
        """Take the device's latest channel and token (validated by the caller). A token
        registered again, the same or a new one, counts from now and clears an earlier refusal:
        APNs's 410 names when Apple last knew the token invalid, and a registration after that
        makes it good again (``push.sender`` compares the two). Returns the fields to save."""
        if (channel, channel_token) == (self.channel, self.channel_token) and not channel_token:
            return []
        self.channel, self.channel_token = channel, channel_token
        self.channel_token_at = now if channel_token else None
        self.channel_token_invalid_at, self.channel_token_invalid_reason = None, ""
        return [
            "channel",
            "channel_token",
            "channel_token_at",
            "channel_token_invalid_at",
            "channel_token_invalid_reason",
        ]

    def set_notifications(self, enabled: bool, now=None) -> bool:
        """Record the notification permission; True if it changed."""
        now = now or timezone.now()
        changed = (
            Device.objects.filter(pk=self.pk)
            .exclude(notifications_enabled=enabled)
            .update(notifications_enabled=enabled, notifications_changed_at=now, last_seen_at=now)
        )
        if changed:
            self.notifications_enabled, self.notifications_changed_at = enabled, now
        return bool(changed)


class DeviceTag(models.Model):
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="tags", verbose_name=_("device")
    )
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="+", verbose_name=_("application")
    )
    tag = models.CharField(max_length=50, verbose_name=_("tag"))

    class Meta:
        verbose_name = _("device tag")
        verbose_name_plural = _("device tags")
        constraints = [models.UniqueConstraint(fields=["device", "tag"], name="push_device_tag")]
        indexes = [
            # Tag audiences: the devices of an app carrying a tag.
            models.Index(fields=["application", "tag", "device"], name="push_tag_audience_idx")
        ]

    def __str__(self):
        return self.tag


class DeviceAttribute(models.Model):
    """A custom user attribute of a device (TPNS ``/v3/device/set_custom_attribute``)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="attributes")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=50)
    value = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "name"], name="push_device_attribute")
        ]
        indexes = [
            # Audiences by attribute: an app's devices with a name and value.
            models.Index(fields=["application", "name", "value"], name="push_attribute_idx")
        ]

    def __str__(self):
        return f"{self.name}={self.value}"


class ApiCallCount(models.Model):
    """Calls of a rate-limited TPNS API family (``family``: "statistics") by one application in
    one window (TPNS: 200 statistics calls an hour), counted by one upsert per call."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="+")
    family = models.CharField(max_length=20)
    window_start = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["application", "family", "window_start"], name="push_api_call_window"
            )
        ]

    def __str__(self):
        return f"{self.family} calls of {self.application_id} from {self.window_start}"


class PushLoop(models.Model):
    """A loop push (TPNS ``loop_param``, or the legacy ``loop_times`` / ``loop_interval``): the
    definition as given, and the time zone its days and times were read in. Each occurrence
    is a push of its own (``Push.loop``), scheduled when the loop was accepted."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="loops")
    definition = models.JSONField(help_text="loop_param, or {loop_times, loop_interval}.")
    time_zone = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"loop {self.pk}"


class PushPlan(models.Model):
    """A push plan (TPNS ``/v3/push/plan/add_plan_push``): a name pushes are grouped under by
    their ``plan_id`` (``get_push_group_stat``); its id is TPNS's ``planId``."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="plans")
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=20, default="api")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class PushPackage(models.Model):
    """An uploaded number (account) or token package (TPNS ``/v3/push/package/upload``): its
    lines parsed once into ``PushPackageEntry`` rows, so that a package push fans out with one
    join; the upload's id is TPNS's ``uploadId``."""

    class Kind(models.TextChoices):
        ACCOUNT = "account", _("Accounts")
        TOKEN = "token", _("Tokens")  # noqa: S105 (a package kind, not a secret)

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="packages")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's name.")
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes uploaded.")
    lines = models.PositiveIntegerField(default=0)
    entries = models.PositiveIntegerField(default=0, help_text="Distinct good lines kept.")
    bad_lines = models.PositiveIntegerField(default=0)
    bad_examples = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["application", "created_at"], name="push_package_app_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} package {self.pk}"


class PushPackageEntry(models.Model):
    """One distinct line of a package: an account or a token."""

    package = models.ForeignKey(PushPackage, on_delete=models.CASCADE, related_name="+")
    value = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["package", "value"], name="push_package_entry")
        ]

    def __str__(self):
        return self.value


class DeviceAccountQuerySet(models.QuerySet):
    def upsert(self, rows) -> None:
        """Bind accounts, one per type per device: a new one overwrites the old and counts as
        bound now (``account_push_type`` 0 pushes to the device an account was bound to last)."""
        self.bulk_create(
            list(rows),
            update_conflicts=True,
            unique_fields=["device", "account_type"],
            update_fields=["account", "created_at"],
        )

    def bind(self, application_id: int, accounts: dict[tuple[int, int], str], now) -> None:
        """Bind ``{(device_id, account_type): account}`` to the application's devices, bound
        now: the latest binding is the one ``account_push_type`` 0 targets."""
        self.upsert(
            self.model(
                device_id=device_id,
                application_id=application_id,
                account_type=account_type,
                account=account,
                created_at=now,
            )
            for (device_id, account_type), account in accounts.items()
        )


class DeviceAccount(models.Model):
    """An account bound to a device (TPNS account + account_type); type 1002 is a phone number.

    One account per type per device: binding a new one overwrites.
    """

    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="accounts", verbose_name=_("device")
    )
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="+", verbose_name=_("application")
    )
    account_type = models.IntegerField(default=0, verbose_name=_("account type"))
    account = models.CharField(max_length=128, verbose_name=_("account"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    objects = DeviceAccountQuerySet.as_manager()

    class Meta:
        verbose_name = _("device account")
        verbose_name_plural = _("device accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["device", "account_type"], name="push_one_account_per_type"
            )
        ]
        indexes = [
            # Account audiences and phone look-ups: devices bound to an account (or number).
            models.Index(
                fields=["application", "account_type", "account"], name="push_account_lookup_idx"
            )
        ]

    def __str__(self):
        return f"{self.account_type}:{self.account}"


class PushStatus(models.TextChoices):
    """``Push.Status`` (at module level so that ``Push.Meta``'s index condition can name it)."""

    INIT = "PUSH_INIT", _("Accepted")
    WAIT = "PUSH_WAIT", _("Scheduled")
    STARTED = "PUSH_STARTED", _("Sending")
    FINISHED = "PUSH_FINISHED", _("Sent")
    FAILED = "PUSH_FAILED", _("Failed")
    CANCELED = "PUSH_CANCELED", _("Canceled")  # a timed push canceled, or a running one stopped
    REVOKED = "PUSH_REVOKED", _("Revoked")
    COLLAPSED = "PUSH_COLLAPSED", _("Replaced")  # a later push reused its collapse_id


class Push(models.Model):
    """One push task, as accepted by /v3/push/app or the console's composer."""

    Status = PushStatus

    class Audience(models.TextChoices):
        ALL = "all", _("All devices")
        TAG = "tag", _("Tag")
        TOKEN = "token", _("Token")  # noqa: S105 (an audience type, not a secret)
        TOKEN_LIST = "token_list", _("Token list")  # noqa: S105
        ACCOUNT = "account", _("Account")
        ACCOUNT_LIST = "account_list", _("Account list")
        PACKAGE_ACCOUNT = "package_account_push", _("Account package")
        PACKAGE_TOKEN = "package_token_push", _("Token package")  # noqa: S105

        # Groupings, written once (nonmember: they are not choices). TOKEN and ACCOUNT are
        # the one-target forms of TOKEN_LIST and ACCOUNT_LIST; broadcasts (all, tag,
        # packages) can be scheduled and loop, and are limited to one per second; list
        # audiences are fanned out from the request.
        # (In the class body each name is still its (value, label) pair: hence ``[0]``.)
        TOKENS = enum.nonmember((TOKEN[0], TOKEN_LIST[0]))
        ACCOUNTS = enum.nonmember((ACCOUNT[0], ACCOUNT_LIST[0]))
        BROADCASTS = enum.nonmember((ALL[0], TAG[0], PACKAGE_ACCOUNT[0], PACKAGE_TOKEN[0]))
        LISTS = enum.nonmember((TOKEN[0], TOKEN_LIST[0], ACCOUNT[0], ACCOUNT_LIST[0]))

    class MessageType(models.TextChoices):
        NOTIFY = "notify", _("Notification")
        MESSAGE = "message", _("Pass-through message")

    class Trigger(models.IntegerChoices):
        PERMISSION_OFF = 0, _("Notifications disabled")
        NOT_ARRIVED = 1, _("Not arrived")
        NOT_CLICKED = 2, _("Not clicked")

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="pushes", verbose_name=_("application")
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.INIT, verbose_name=_("status")
    )
    audience_type = models.CharField(
        max_length=20, choices=Audience.choices, verbose_name=_("audience type")
    )
    audience = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("token_list / account_list / tag_rules as given."),
        verbose_name=_("audience"),
    )
    message_type = models.CharField(
        max_length=10, choices=MessageType.choices, verbose_name=_("message type")
    )
    title = models.CharField(max_length=200, blank=True, verbose_name=_("title"))
    content = models.TextField(blank=True, verbose_name=_("content"))
    message = models.JSONField(
        default=dict, help_text=_("The message object as given."), verbose_name=_("message")
    )
    environment = models.CharField(max_length=10, blank=True, verbose_name=_("environment"))
    # expire_time in seconds, as TPNS has it: one day unless given, 1–799 are raised to 800
    # (0 means real-time only), at most three days.
    EXPIRE_DEFAULT, EXPIRE_FLOOR, EXPIRE_MAX = 86400, 800, 259200
    expire_time = models.PositiveIntegerField(default=EXPIRE_DEFAULT, verbose_name=_("expire time"))
    send_at = models.DateTimeField(null=True, blank=True, verbose_name=_("send at"))
    seq = models.BigIntegerField(default=0, verbose_name=_("seq"))
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Other TPNS fields as given."),
        verbose_name=_("options"),
    )
    account_type = models.IntegerField(default=0, verbose_name=_("account type"))
    account_push_type = models.PositiveSmallIntegerField(
        default=0, verbose_name=_("account push type")
    )
    # Supplementary SMS (TPNS resend_by_sms + sms_info, and our max_sms budget cap).
    resend_by_sms = models.BooleanField(default=False, verbose_name=_("resend by SMS"))
    sms_delay = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("SMS delay"))
    sms_trigger = models.PositiveSmallIntegerField(
        choices=Trigger.choices, null=True, blank=True, verbose_name=_("SMS trigger")
    )
    sms_app_id = models.CharField(max_length=40, blank=True, verbose_name=_("SMS app ID"))
    sms_template_id = models.CharField(max_length=40, blank=True, verbose_name=_("SMS template ID"))
    sms_sign_name = models.CharField(max_length=12, blank=True, verbose_name=_("SMS sign name"))
    sms_params = models.JSONField(default=list, blank=True, verbose_name=_("SMS params"))
    sms_max = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("SMS max"))
    # Ours (sms_info.send_on_refusal): a delivery its channel refused for good gets its SMS as
    # soon as the refusal is known, not at the due time (it can never arrive).
    sms_on_refusal = models.BooleanField(default=False, verbose_name=_("SMS on refusal"))
    # The template and signature ``sms_info`` resolved to when the push was accepted: every SMS
    # of the push uses these, so approving another signature later cannot re-brand it
    # (``resolved_sms``). A null template is a push accepted before pinning whose sms_info no
    # longer resolved then: it is resolved at send time, as it was. RESTRICT: a signature or
    # template that pushes use cannot be deleted on its own, only with its account.
    pinned_template = models.ForeignKey(
        "sms.Template",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        verbose_name=_("pinned template"),
    )
    pinned_signature = models.ForeignKey(
        "sms.Signature",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        verbose_name=_("pinned signature"),
    )
    idempotency_key = models.CharField(
        max_length=100, blank=True, verbose_name=_("idempotency key")
    )
    request_hash = models.CharField(max_length=64, blank=True, verbose_name=_("request hash"))
    targets = models.PositiveIntegerField(default=0, verbose_name=_("targets"))
    invalid_targets = models.JSONField(default=list, blank=True, verbose_name=_("invalid targets"))
    error_message = models.TextField(blank=True, verbose_name=_("error message"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    # When the expiry sweep (``fanout.expire``) expired the push's unarrived deliveries: each
    # push is swept once, so the sweep never scans the history.
    deliveries_expired_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("deliveries expired at")
    )
    # Fan-out progress (``fanout.start`` writes deliveries in chunks, in device id order): the
    # last device id done, and when the last chunk was written (a stale one means its worker
    # died, and the minute sweep carries on from the device after).
    fanned_out_to = models.BigIntegerField(default=0, verbose_name=_("fanned out to"))
    fanout_chunk_at = models.DateTimeField(null=True, blank=True, verbose_name=_("fanout chunk at"))
    # Push control (TPNS stop_push_msg, revoke_push_msg): when it was stopped or revoked.
    stopped_at = models.DateTimeField(null=True, blank=True, verbose_name=_("stopped at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))
    # A package push's package (``package_account_push`` / ``package_token_push``).
    package = models.ForeignKey(
        "PushPackage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pushes",
        verbose_name=_("audience package"),
    )
    # An occurrence of a loop push.
    loop = models.ForeignKey(
        "PushLoop",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="occurrences",
        verbose_name=_("loop"),
    )

    class Meta:
        verbose_name = _("push")
        verbose_name_plural = _("pushes")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="push_idempotency_key",
            ),
        ]
        indexes = [
            # Push lists and statistics by date.
            models.Index(fields=["application", "created_at"], name="push_app_created_idx"),
            # The channel health (``push.channel_health``): an app's pushes whose deliveries
            # can have been answered in the last 24 hours (a scheduled push may have been
            # created long before it was sent, so creation time cannot bound them).
            models.Index(fields=["application", "expires_at"], name="push_app_expiry_idx"),
            # The scheduler: pushes waiting for their send time, or accepted but not started.
            models.Index(
                fields=["send_at"],
                name="push_waiting_idx",
                condition=Q(status__in=[PushStatus.INIT, PushStatus.WAIT]),
            ),
            # The expiry sweep: pushes whose deliveries have not been expired yet, by expiry.
            models.Index(
                fields=["expires_at"],
                name="push_expiry_due_idx",
                condition=Q(deliveries_expired_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"push {self.pk} ({self.status})"

    @property
    def collapse_id(self) -> int:
        """TPNS's collapse id (``collapseID``) of an all, tag or package push: the one it was
        given, else its own id (TPNS assigns one to each); 0 for a list push, which none can
        replace."""
        if self.audience_type not in Push.Audience.BROADCASTS:
            return 0
        return (self.options or {}).get("collapse_id") or self.pk or 0

    @property
    def push_id(self) -> str:
        return str(self.pk)

    # Each SMS field of a push has three names, written once here: ``sms.sending``'s keyword
    # (its own API's field: an SmsRejected names it), the Push field, and TPNS's sms_info key.
    SMS_FIELDS = (
        ("sdk_app_id", "sms_app_id", "sms_app_id"),
        ("template_id", "sms_template_id", "sms_template_id"),
        ("sign_name", "sms_sign_name", "sms_sign_name"),
        ("params", "sms_params", "sms_template_params"),
    )

    def sms_info(self) -> dict:
        """The push's SMS fields as ``sms.sending.resolve`` / ``prepare`` take them."""
        return {keyword: getattr(self, name) for keyword, name, _ in self.SMS_FIELDS}

    @classmethod
    def tpns_sms_field(cls, keyword: str) -> str:
        """The sms_info key of ``sms.sending``'s field ``keyword`` ("" if it has none)."""
        return next((key for kw, _, key in cls.SMS_FIELDS if kw == keyword), "")

    def pin_sms(self) -> None:
        """Resolve ``sms_info`` now (the accept-time gates; raises ``SmsRejected`` naming the
        field) and pin the template and signature it names, the account's newest approved
        signature when none is named."""
        _, self.pinned_template, self.pinned_signature = sending.resolve(
            self.application.account, **self.sms_info()
        )

    def resolved_sms(self):
        """What this push's SMS are sent with: (SMS application, template, signature), for the
        engine, its preview and the push page alike. The pinned template and signature must
        still be sendable, else ``SmsRejected`` (the SMS are blocked, never sent under another
        signature)."""
        if self.pinned_template_id is None:  # accepted before pinning, unresolvable then
            return sending.resolve(self.application.account, **self.sms_info())
        return sending.resolve_pinned(
            self.application.account,
            sdk_app_id=self.sms_app_id,
            template_pk=self.pinned_template_id,
            signature_pk=self.pinned_signature_id,
            params=self.sms_params,
        )

    def audience_seen_by(self, masking) -> dict:
        """The audience as given, its tokens and accounts (phone numbers among them) through
        ``masking`` (a ``Membership.masking``); tag rules are not personal."""
        seen = dict(self.audience)
        for key in ("token_list", "account_list"):
            if isinstance(seen.get(key), list):
                seen[key] = [masking.token(str(value)) for value in seen[key]]
        return seen

    def invalid_targets_seen_by(self, masking) -> list[str]:
        """The refused tokens or accounts, through ``masking``."""
        return [masking.token(str(value)) for value in self.invalid_targets]

    def tpns_sms_info(self) -> dict:
        """The push's SMS fields as TPNS names them (``sms_info``), with our ``max_sms``."""
        return {
            "delay_trigger_time": self.sms_delay,
            "trigger_condition": self.sms_trigger,
            "sms_app_id": self.sms_app_id,
            "sms_template_id": self.sms_template_id,
            "sms_sign_name": self.sms_sign_name,
            "sms_template_params": self.sms_params,
            "max_sms": self.sms_max,
            "send_on_refusal": int(self.sms_on_refusal),
        }


# What a claim returns of each delivery, in this order (``push.plan.Due``): what deciding it
# needs, so that it is not read a second time.
CLAIMED_COLUMNS = ("id", "push_id", "device_id", "arrived_at", "clicked_at", "sms_attempts")


class DeliveryQuerySet(models.QuerySet):
    """The set-based statements of the hot paths: fan-out, the SDK's events, the SMS sweep.

    Enum values are formatted into the statements rather than bound: they are constants, and
    the partial indexes (``fallback = 'waiting'``) are matched only by a literal."""

    def claim_due(self, now, limit: int, lease) -> list[tuple]:
        """Take up to ``limit`` due deliveries (and any whose lease ran out) for this worker:
        ``fallback`` becomes ``claimed`` until ``now + lease``. Returns rows of ``CLAIMED_COLUMNS``.

        One statement each: the inner SELECT walks the partial index of waiting rows in due
        order and skips rows another worker is claiming right now (SKIP LOCKED); the UPDATE
        flips them. Then the same for rows whose worker died (their lease ended).
        """
        fallback = Delivery.Fallback
        table = self.model._meta.db_table
        lock = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
        inner = [
            f"SELECT id FROM {table} WHERE fallback = '{fallback.WAITING}' AND sms_due_at <= %s "
            f"ORDER BY sms_due_at LIMIT %s {lock}",
            f"SELECT id FROM {table} WHERE fallback = '{fallback.CLAIMED}' "
            f"AND claimed_until < %s ORDER BY claimed_until LIMIT %s {lock}",
        ]
        claimed: list[tuple] = []
        with connection.cursor() as cursor:
            for select in inner:
                room = limit - len(claimed)
                if room <= 0:
                    break
                if connection.vendor == "postgresql":
                    where = f"id = ANY(ARRAY({select}))"
                else:
                    where = f"id IN ({select})"
                cursor.execute(
                    f"UPDATE {table} SET fallback = '{fallback.CLAIMED}', claimed_until = %s "
                    f"WHERE {where} RETURNING {', '.join(CLAIMED_COLUMNS)}",
                    [now + lease, now, room],
                )
                claimed += cursor.fetchall()
        return claimed

    def claim_for_sending(self, now, limit: int, lease) -> list[int]:
        """Take up to ``limit`` queued deliveries whose time has come for this sender:
        ``sending`` until ``now + lease``, one more attempt. One statement over the partial
        index ``push_delivery_send_due_idx``, skipping rows another sender is claiming."""
        state = Delivery.State
        with self._update_picked(
            f"state = '{state.QUEUED}' AND send_after <= %s ORDER BY send_after",
            f"state = '{state.SENDING}', send_lease_until = %s, send_attempts = send_attempts + 1",
            [now + lease],
            [now],
            limit,
            returning="id",
        ) as cursor:
            return [row[0] for row in cursor.fetchall()]

    def settle_lost_sends(self, now, limit: int) -> int:
        """Deliveries whose sender's lease ran out become ``unknown``: the channel may have
        them, so they are never sent again blindly (a late answer still settles them)."""
        state = Delivery.State
        with self._update_picked(
            f"state = '{state.SENDING}' AND send_lease_until < %s ORDER BY send_lease_until",
            f"state = '{state.UNKNOWN}', send_lease_until = NULL, channel_answer = %s, "
            "answered_at = %s",
            [LOST_ANSWER, now],
            [now],
            limit,
            returning="push_id",
        ) as cursor:
            pushes = [row[0] for row in cursor.fetchall()]
        PushStats.objects.mark_changed(pushes, now)
        return len(pushes)

    @contextmanager
    def _update_picked(
        self, where_order, assignments, set_params, where_params, limit, *, returning=""
    ):
        """``UPDATE … SET assignments`` of at most ``limit`` rows picked by ``WHERE
        where_order`` in one statement; on PostgreSQL the pick skips rows another worker is
        picking right now (SKIP LOCKED), so two workers never take the same row."""
        table = self.model._meta.db_table
        postgresql = connection.vendor == "postgresql"
        lock = "FOR UPDATE SKIP LOCKED" if postgresql else ""
        select = f"SELECT id FROM {table} WHERE {where_order} LIMIT %s {lock}"
        where = f"id = ANY(ARRAY({select}))" if postgresql else f"id IN ({select})"
        tail = f" RETURNING {returning}" if returning else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {assignments} WHERE {where}{tail}",
                [*set_params, *where_params, limit],
            )
            yield cursor

    def record_answers(self, rows: list[tuple]) -> int:
        """Write a batch's channel answers in one statement. ``rows`` are ``(id, state,
        channel, accepted, send_after, message_id, answer, at, sms_now)``; a delivery the SDK
        already reported arrived (or later) keeps its state, and ``sms_now`` brings a waiting
        supplementary SMS forward to ``at`` (``sms_info.send_on_refusal``)."""
        if not rows:
            return 0
        table = self.model._meta.db_table
        state = Delivery.State
        values, params = values_table(
            [
                ("id", "bigint"),
                ("state", "varchar"),
                ("channel", "varchar"),
                ("accepted", "boolean"),
                ("send_after", "timestamptz"),
                ("message_id", "varchar"),
                ("answer", "varchar"),
                ("at", "timestamptz"),
                ("sms_now", "boolean"),
            ],
            [(*row[:4], _moment(row[4]), *row[5:7], _moment(row[7]), row[8]) for row in rows],
        )
        open_states = f"'{state.SENDING}', '{state.UNKNOWN}'"
        sql = f"""
            UPDATE {table} SET
                state = CASE WHEN {table}.state IN ({open_states}) THEN v.state
                    ELSE {table}.state END,
                channel = v.channel,
                sent_at = CASE WHEN v.accepted THEN COALESCE({table}.sent_at, v.at)
                    ELSE {table}.sent_at END,
                send_after = v.send_after,
                send_lease_until = NULL,
                channel_message_id = v.message_id,
                channel_answer = v.answer,
                answered_at = v.at,
                sms_due_at = CASE
                    WHEN v.sms_now AND {table}.fallback = '{DeliveryFallback.WAITING}'
                        AND {table}.sms_due_at > v.at THEN v.at
                    ELSE {table}.sms_due_at END
            FROM {values}
            WHERE {table}.id = v.id
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def count_due(self, now, at_most: int) -> int:
        """How many deliveries are due now, counting no further than ``at_most`` (a bounded
        walk of the partial index of waiting rows)."""
        table = self.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {table} "
                f"WHERE fallback = '{Delivery.Fallback.WAITING}' AND sms_due_at <= %s "
                "LIMIT %s) AS due",
                [now, at_most],
            )
            return cursor.fetchone()[0]

    def insert_for_devices(
        self,
        devices,
        *,
        after: int,
        limit: int | None,
        values: dict,
        per_device=None,
        inbox_devices: int = 0,
    ) -> tuple[int, int | None, list[int] | None]:
        """One delivery per row of ``devices`` (a queryset of device columns, ``id`` and
        ``notifications_enabled`` first) with an id above ``after``, at most ``limit``, in
        device id order, with one ``INSERT … SELECT``; returns (count, last device id written,
        the devices whose delivery went into the built-in inbox, or None when more than
        ``inbox_devices`` were written).

        ``values`` gives other columns by field name (``push``, ``state``, …); ``per_device``
        gives columns as SQL over the device row ``d`` (``{"state": ("CASE … END", params)}``);
        every column neither names takes its field's default, as ``sms.bulk.insert_rows``
        does. Raises ``EmptyResultSet`` when ``devices`` can match nothing."""
        meta = self.model._meta
        select_sql, select_params = devices.query.sql_with_params()
        given = {meta.get_field(name).attname: value for name, value in values.items()}
        from_device = {
            "device_id": ("d.id", []),
            "notifications_enabled": ("d.notifications_enabled", []),
        }
        for name, expression in (per_device or {}).items():
            from_device[meta.get_field(name).attname] = expression
        cast = connection.vendor == "postgresql"  # a bare NULL in a SELECT list is text there
        columns, selects, params = [], [], []
        for field in meta.concrete_fields:
            if field.primary_key:
                continue
            columns.append(connection.ops.quote_name(field.column))
            if field.attname in from_device:
                sql, sql_params = from_device[field.attname]
                selects.append(sql)
                params += sql_params
                continue
            value = given[field.attname] if field.attname in given else field.get_default()
            selects.append(f"%s::{field.cast_db_type(connection)}" if cast else "%s")
            params.append(field.get_db_prep_save(value, connection))
        chunk = "" if limit is None else "LIMIT %s"
        insert = (
            f"INSERT INTO {meta.db_table} ({', '.join(columns)}) SELECT {', '.join(selects)} "
            f"FROM ({select_sql}) AS d WHERE d.id > %s ORDER BY d.id {chunk} "
            "RETURNING device_id, channel"
        )
        params += [*select_params, after]
        if limit is not None:
            params.append(limit)
        with connection.cursor() as cursor:
            builtin = f"channel = '{ChannelKind.BUILTIN}'"
            if connection.vendor == "postgresql":  # counted in the database, not in Python
                cursor.execute(
                    f"WITH written AS ({insert}) SELECT count(*), max(device_id), "
                    f"CASE WHEN count(*) <= %s THEN COALESCE(array_agg(device_id) "
                    f"FILTER (WHERE {builtin}), '{{}}') END FROM written",
                    [*params, inbox_devices],
                )
                return cursor.fetchone()
            cursor.execute(insert, params)  # SQLite: no INSERT inside WITH
            written = cursor.fetchall()
            inbox = [pk for pk, channel in written if channel == ChannelKind.BUILTIN]
            return (
                len(written),
                max((pk for pk, _ in written), default=None),
                inbox if len(written) <= inbox_devices else None,
            )

    def record_events(
        self,
        rows: list[tuple],
        *,
        device_id: int | None = None,
        application_id: int | None = None,
        channel: str = "",
        source: str = "sdk",
    ) -> list[tuple]:
        """PostgreSQL: apply event rows in one statement (the rules are ``push.events``'s).

        One device's (the SDK): ``device_id`` and rows ``(push_id, arrival, click_at,
        dismiss_at, end_state)``. A vendor's receipts: ``application_id``, ``channel`` and rows
        ``(push_id, arrival, click_at, dismiss_at, end_state, channel_token)``, the device found
        by its vendor token (``push_device_vendor_token_idx``). ``source`` is recorded as who
        reported an arrival or a click first. Returns, per row with a delivery, ``(row index,
        arrived_at was NULL, clicked_at was NULL, dismissed_at was NULL)`` as the delivery held
        them before."""
        table = self.model._meta.db_table
        devices = Device._meta.db_table
        state = Delivery.State
        arrived, ended = f"'{state.ARRIVED}'", f"'{state.CLICKED}', '{state.DISMISSED}'"
        by_token = device_id is None
        types = ["int", "bigint", "timestamptz", "timestamptz", "timestamptz", "varchar"]
        types += ["varchar"] if by_token else []
        # One array per column (``lib.values``): a handful of parameters for any batch.
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        columns = "n, push_id, arrive_at, click_at, dismiss_at, end_state"
        if by_token:
            columns += ", token"
            match = (
                f"JOIN {devices} AS dev ON dev.application_id = %s AND dev.channel = %s "
                "AND dev.channel_token = v.token "
                f"JOIN {table} AS d ON d.device_id = dev.id AND d.push_id = v.push_id"
            )
            match_params = [application_id, channel]
        else:
            match = f"JOIN {table} AS d ON d.device_id = %s AND d.push_id = v.push_id"
            match_params = [device_id]
        # "old" locks the rows (in id order: concurrent batches cannot deadlock) and keeps what
        # they held before, for the counts; the UPDATE writes only the rows that change, so a
        # retried batch costs no writes.
        sql = f"""
            WITH v ({columns}) AS (SELECT * FROM unnest({arrays})),
            old AS (
                SELECT d.id, v.n, d.arrived_at, d.clicked_at, d.dismissed_at
                FROM v {match}
                ORDER BY d.id
                FOR UPDATE OF d
            ),
            changed AS (
                UPDATE {table} AS d SET
                    arrived_at = COALESCE(d.arrived_at, {_clamped("v.arrive_at")}),
                    clicked_at = COALESCE(d.clicked_at, {_clamped("v.click_at")}),
                    dismissed_at = COALESCE(d.dismissed_at, {_clamped("v.dismiss_at")}),
                    arrival_source = CASE WHEN d.arrived_at IS NULL AND v.arrive_at IS NOT NULL
                        THEN %s ELSE d.arrival_source END,
                    click_source = CASE WHEN d.clicked_at IS NULL AND v.click_at IS NOT NULL
                        THEN %s ELSE d.click_source END,
                    state = CASE
                        WHEN d.state IN ({ended}) THEN d.state
                        ELSE COALESCE(v.end_state, {arrived})
                    END
                FROM old JOIN v ON v.n = old.n
                WHERE d.id = old.id
                    AND (
                        d.arrived_at IS NULL
                        OR (d.clicked_at IS NULL AND v.click_at IS NOT NULL)
                        OR (d.dismissed_at IS NULL AND v.dismiss_at IS NOT NULL)
                        OR d.state NOT IN ({arrived}, {ended})
                        OR (d.state = {arrived} AND v.end_state IS NOT NULL)
                    )
            )
            SELECT n, arrived_at IS NULL, clicked_at IS NULL, dismissed_at IS NULL FROM old
        """
        params = columns_of([(n, *row) for n, row in enumerate(rows)], len(types))
        params += match_params + [source, source]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


# A delivery whose sender died, or whose answer never came, holds this as its channel answer.
LOST_ANSWER = "lost: the sender stopped before the channel answered"


def _moment(value):
    return None if value is None else connection.ops.adapt_datetimefield_value(value)


def _clamped(reported: str) -> str:
    """SQL: a reported event time, not before the delivery was sent (GREATEST ignores NULLs,
    so an unreported time must stay NULL explicitly)."""
    return (
        f"CASE WHEN {reported} IS NULL THEN NULL "
        f"ELSE GREATEST({reported}, COALESCE(d.sent_at, d.created_at)) END"
    )


class EventSource(models.TextChoices):
    SDK = "sdk", _("the app (SDK)")
    VENDOR = "vendor", _("the vendor's receipt")


class DeliveryFallback(models.TextChoices):
    """``Delivery.Fallback`` (at module level so that ``Delivery.Meta``'s partial indexes can
    name it)."""

    NONE = "none", _("No SMS asked")
    WAITING = "waiting", _("Waiting for the due time")
    CLAIMED = "claimed", _("Being decided")
    DECIDED = "decided", _("Decided")


class Delivery(models.Model):
    """One push to one device, and its supplementary-SMS decision."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")  # for its channel's sender (``send_after``)
        SENDING = "sending", _("Being sent")  # a sender holds it until ``send_lease_until``
        UNKNOWN = "unknown", _("Answer lost")  # its sender died or the answer never came
        SENT = "sent", _("Sent")
        ARRIVED = "arrived", _("Arrived")
        CLICKED = "clicked", _("Clicked")
        DISMISSED = "dismissed", _("Dismissed")
        EXPIRED = "expired", _("Expired")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")  # its push was stopped before it was sent
        REVOKED = "revoked", _("Revoked")  # its push was revoked before the device fetched it

    Fallback = DeliveryFallback

    class Outcome(models.TextChoices):
        """A decided delivery's supplementary SMS (``outcome``; ``outcome_detail`` says more:
        the rule when blocked, the provider's code when failed, the SMS row's state or code
        when unknown)."""

        NOT_NEEDED = "not_needed", _("Not needed")  # the trigger condition does not hold
        SENT = "sent", _("SMS sent")
        NO_PHONE = "no_phone", _("No phone number")
        # One SMS per number per push.
        DUPLICATE_NUMBER = "duplicate_number", _("Duplicate number")
        BLOCKED = "blocked", _("Blocked")  # detail: a ``Rule``
        FAILED = "failed", _("Failed")  # detail: the provider's code
        # May have been sent: never re-sent, settled by receipts.
        UNKNOWN = "unknown", _("Unknown (may have been sent)")
        CANCELED = "canceled", _("Canceled")  # the push was stopped or revoked first

    # Why a delivery's SMS was blocked (its ``outcome_detail``): the SMS platform's vocabulary.
    Rule = Rule

    # No index of their own: the (push, id) and (device, id) indexes below cover both, and
    # every delivery write would pay for two more.
    push = models.ForeignKey(
        Push,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        verbose_name=_("push"),
    )
    device = models.ForeignKey(
        Device,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        verbose_name=_("device"),
    )
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.QUEUED, verbose_name=_("state")
    )
    notifications_enabled = models.BooleanField(
        default=True, verbose_name=_("notifications enabled")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    arrived_at = models.DateTimeField(null=True, blank=True, verbose_name=_("arrived at"))
    clicked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("clicked at"))
    dismissed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("dismissed at"))
    fallback = models.CharField(
        max_length=10, choices=Fallback.choices, default=Fallback.NONE, verbose_name=_("fallback")
    )
    sms_due_at = models.DateTimeField(null=True, blank=True, verbose_name=_("SMS due at"))
    claimed_until = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed until"))
    outcome = models.CharField(
        max_length=20, blank=True, choices=Outcome.choices, verbose_name=_("outcome")
    )
    outcome_detail = models.CharField(max_length=100, blank=True, verbose_name=_("outcome detail"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    sms_attempts = models.PositiveSmallIntegerField(
        default=0,
        help_text=_("SMS attempts that failed in a retryable way."),
        verbose_name=_("SMS attempts"),
    )
    # The channel that carries it (``push.sender``): the built-in inbox, or APNs / FCM with
    # the device's channel token. Queued deliveries wait for ``send_after`` (a retry's backoff);
    # the channel's answer is kept: its message id when accepted, its reason when refused.
    channel = models.CharField(
        max_length=10,
        choices=ChannelKind.choices,
        default=ChannelKind.BUILTIN,
        verbose_name=_("channel"),
    )
    send_after = models.DateTimeField(null=True, blank=True, verbose_name=_("send after"))
    send_lease_until = models.DateTimeField(
        null=True, blank=True, verbose_name=_("send lease until")
    )
    send_attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("send attempts"))
    channel_message_id = models.CharField(
        max_length=200, blank=True, verbose_name=_("channel message ID")
    )
    channel_answer = models.CharField(max_length=100, blank=True, verbose_name=_("channel answer"))
    answered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("answered at"))
    # Who reported the arrival and the click first: the app (``sdk``) or the vendor's receipt
    # (``vendor``); they count the same, and the figures say which.
    arrival_source = models.CharField(
        max_length=6,
        choices=EventSource.choices,
        blank=True,
        default="",
        db_default="",
        verbose_name=_("arrival source"),
    )
    click_source = models.CharField(
        max_length=6,
        choices=EventSource.choices,
        blank=True,
        default="",
        db_default="",
        verbose_name=_("click source"),
    )
    # Its place in the device's inbox when it entered the built-in channel after it was
    # written (a vendor's spent quota, Huawei's receipt 256): drawn like a new id, under the
    # app's inbox lock (``push.inbox``), so a device whose cursor is past its id still gets it.
    # Null for the rest, whose place is their id.
    inbox_seq = models.BigIntegerField(null=True, blank=True, verbose_name=_("inbox seq"))

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["push", "device"], name="push_one_delivery_per_device")
        ]
        indexes = [
            # The built-in channel: a device's notifications after a cursor.
            models.Index(fields=["device", "id"], name="push_delivery_inbox_idx"),
            # ... and those that entered the inbox late, by their place (``push.inbox``).
            models.Index(
                fields=["device", "inbox_seq"],
                name="push_delivery_inbox_late_idx",
                condition=Q(inbox_seq__isnull=False),
            ),
            # A push's deliveries in order (the push page, its CSV, statistics).
            models.Index(fields=["push", "id"], name="push_delivery_push_idx"),
            # The supplementary SMS sweep: undecided deliveries by due time.
            models.Index(
                fields=["sms_due_at"],
                name="push_delivery_fallback_due_idx",
                condition=Q(fallback=DeliveryFallback.WAITING),
            ),
            # Reclaiming batches whose worker died: claimed deliveries by lease end.
            models.Index(
                fields=["claimed_until"],
                name="push_delivery_lease_idx",
                condition=Q(fallback=DeliveryFallback.CLAIMED),
            ),
            # The channel sender (``push.sender``): queued deliveries by when they may go,
            # and deliveries being sent by lease end (a dead sender's batch).
            models.Index(
                fields=["send_after"],
                name="push_delivery_send_due_idx",
                condition=Q(state="queued"),
            ),
            models.Index(
                fields=["send_lease_until"],
                name="push_delivery_send_lease_idx",
                condition=Q(state="sending"),
            ),
            # The application page's channel health (``push.channel_health``), per push of
            # the window: refusals answered in it, and the latest acceptance by a push service
            # (a backward scan that stops at the first entry). The built-in channel's own
            # deliveries have no answer time and stay out of both.
            models.Index(
                fields=["push", "answered_at"],
                name="push_delivery_refused_idx",
                condition=Q(state="failed"),
            ),
            models.Index(
                fields=["push", "channel", "answered_at"],
                name="push_delivery_accepted_idx",
                condition=Q(sent_at__isnull=False, answered_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"delivery {self.pk} of push {self.push_id} to device {self.device_id}"


class SweepRun(models.Model):
    """When each recurring sweep last finished, and what it did (for /healthz and operators)."""

    name = models.CharField(max_length=50, unique=True, verbose_name=_("name"))
    finished_at = models.DateTimeField(default=timezone.now, verbose_name=_("finished at"))
    result = models.JSONField(default=dict, blank=True, verbose_name=_("result"))

    class Meta:
        verbose_name = _("sweep run")
        verbose_name_plural = _("sweep runs")

    def __str__(self):
        return f"{self.name} at {self.finished_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def record(cls, name: str, result: dict, now=None) -> None:
        cls.objects.update_or_create(
            name=name, defaults={"finished_at": now or timezone.now(), "result": result}
        )


class DailyStats(models.Model):
    """An account's figures for one calendar day (its time zone), kept by the minute rollup so
    the dashboard reads a handful of rows instead of counting millions of deliveries.

    Push figures count the deliveries of pushes created that day; SMS figures count messages
    created that day.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="daily_stats")
    day = models.DateField()
    pushes = models.PositiveIntegerField(default=0)
    targets = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    arrived = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    sms_due = models.PositiveIntegerField(default=0)
    sms_sent = models.PositiveIntegerField(default=0)
    sms_delivered = models.PositiveIntegerField(default=0)
    sms_failed = models.PositiveIntegerField(default=0)
    sms_blocked = models.PositiveIntegerField(default=0)
    sms_unknown = models.PositiveIntegerField(default=0)
    sms_fee = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "daily stats"
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="push_daily_stats_day")
        ]

    def __str__(self):
        return f"{self.account} {self.day}"


class DailyChannelStats(models.Model):
    """An account's figures for one calendar day per application and channel, kept by the
    minute rollup beside DailyStats (the same run, the same deliveries and SMS): the
    dashboard's breakdown of earlier days. The rows of a day add up to its DailyStats row.

    The SMS API's messages belong to no application and no channel: one row per day with
    ``application`` null and ``channel`` "". The application is not a database foreign key
    (``db_constraint=False``, DO_NOTHING): a deleted application's purge removes its row, and
    its past figures stay here so that the days still add up (shown as a deleted application).
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    application = models.ForeignKey(
        Application,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    channel = models.CharField(max_length=10, blank=True, choices=ChannelKind.choices)
    targets = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    arrived = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    sms_sent = models.PositiveIntegerField(default=0)
    sms_fee = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "daily channel stats"
        constraints = [
            # Also the dashboard's index: an account's rows of a period (account, day range).
            models.UniqueConstraint(
                fields=["account", "day", "application", "channel"],
                name="push_daily_channel_stats_key",
            ),
            # NULLs are distinct in the key above: the SMS API's row has its own.
            models.UniqueConstraint(
                fields=["account", "day"],
                condition=Q(application__isnull=True),
                name="push_daily_channel_stats_sms_api",
            ),
            models.CheckConstraint(
                condition=Q(application__isnull=True, channel="")
                | Q(application__isnull=False) & ~Q(channel=""),
                name="push_daily_channel_stats_channel",
            ),
        ]

    def __str__(self):
        return f"{self.account} {self.day} {self.application_id or '-'} {self.channel or '-'}"


class PushStatsQuerySet(models.QuerySet):
    # A writer marks a push at most once in this long: the next writers of the same push find
    # it marked and write nothing (no row lock, no dead tuple per event batch).
    MARK_EVERY = timedelta(seconds=5)

    def mark_changed(self, push_ids, now) -> int:
        """Note that deliveries of these pushes changed at ``now`` (the writers of
        ``push.events``, ``push.receipts``, ``push.sender``, ``push.fallback``, ``push.fanout``
        and ``push.control``, in the transaction of their write): one UPDATE, which touches
        only the stored rows (large pushes) not marked in the last ``MARK_EVERY``."""
        ids = sorted(set(push_ids))
        if not ids:
            return 0
        return self.filter(push_id__in=ids, changed_at__lt=now - self.MARK_EVERY).update(
            changed_at=now
        )


class PushStats(models.Model):
    """A push's figures as the minute rollup last counted them (see ``push.stats``): a push page
    with a million deliveries reads this row instead of counting them.

    ``updated_at``: when they were counted; ``changed_at``: when a writer last changed one of
    the push's deliveries (``mark_changed``); ``checked_at``: the last rollup run that counted
    them or found them unchanged (what a page calls "as of")."""

    push = models.OneToOneField(Push, on_delete=models.CASCADE, primary_key=True)
    figures = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(default=timezone.now)

    objects = PushStatsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "push stats"

    def __str__(self):
        return f"stats of push {self.push_id}"


class TagImport(models.Model):
    """A CSV of tokens or accounts whose devices get a tag added or removed (``push.tag_import``):
    its lines are staged as ``TagImportLine`` rows on upload, then applied in chunks by a task.
    ``done_lines`` is the last line applied, moved in the transaction that applies its chunk, so
    a task that dies mid-way leaves it where the last committed chunk ended and the next run
    goes on from there: nothing is applied twice, nothing skipped."""

    class Kind(models.TextChoices):
        TOKEN = "token", _("Tokens")  # noqa: S105 (what the lines are, not a secret)
        ACCOUNT = "account", _("Accounts")

    class Action(models.TextChoices):
        ADD = "add", _("Add the tag")
        REMOVE = "remove", _("Remove the tag")

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    action = models.CharField(max_length=10, choices=Action.choices)
    tag = models.CharField(max_length=50)
    # Accounts of this type only (TPNS account_type; 1002 a phone number); None: of any type.
    account_type = models.IntegerField(null=True, blank=True)
    name = models.CharField(max_length=255, help_text="The uploaded file's name.")
    lines = models.PositiveIntegerField(default=0, help_text="Lines in the file.")
    done_lines = models.PositiveIntegerField(default=0, help_text="Lines applied so far.")
    changed = models.PositiveIntegerField(default=0, help_text="Device tags added or removed.")
    bad_lines = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    error = models.CharField(max_length=500, blank=True)
    # Moved by every chunk: a running job whose heartbeat is older than the lease has lost its
    # worker, and the next run takes it over.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(done_lines__lte=models.F("lines")), name="push_tag_import_progress"
            )
        ]
        indexes = [
            # The tags page's recent imports of an application.
            models.Index(fields=["application", "-created_at"], name="push_tag_import_app_idx")
        ]

    def __str__(self):
        return f"tag import {self.pk} ({self.tag})"

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return 100 * self.done_lines // self.lines if self.lines else 0


class TagImportLine(models.Model):
    """A line of a tag import: staged on upload, deleted once applied unless it was refused
    (``problem``): what stays is the import's per-line error report."""

    class Problem(models.TextChoices):
        NONE = "", _("none")
        FORMAT = "format", _("bad format")
        NOT_TOKEN = "not_token", _("not a token (1 to 36 characters)")  # noqa: S105
        UNKNOWN = "unknown", _("no device of the application has it")
        CAP = "cap", _("the device carries the most tags it may")

    job = models.ForeignKey(TagImport, on_delete=models.CASCADE, related_name="+")
    line = models.PositiveIntegerField()
    value = models.CharField(max_length=200)
    problem = models.CharField(max_length=10, choices=Problem.choices, blank=True)
    detail = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            # Also the index a chunk is read on: a job's lines by number.
            models.UniqueConstraint(fields=["job", "line"], name="push_tag_import_line")
        ]

    def __str__(self):
        return f"line {self.line}: {self.value}"
