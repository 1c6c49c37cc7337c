"""Tenants, their members, API key pairs and the Tencent Cloud authorization.

This app knows no product: SMS and push features build on it.
"""

import base64
import hashlib
import hmac
import re
import secrets
import string
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lib.masking import Masking

from . import crypto
from .signing import hmac_sign, management_string_to_sign

ALPHANUMERIC = string.ascii_letters + string.digits


def random_string(length: int, alphabet: str = ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a known time zone (e.g. Asia/Shanghai)") from None


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    OPERATOR = "operator", _("Operator")
    VIEWER = "viewer", _("Viewer")


# Higher ranks may do everything lower ranks may.
ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2, Role.OWNER: 3}
# The lowest role that sees personal data in full (``Membership.masking``).
PERSONAL_DATA_ROLE = Role.OPERATOR


class Account(models.Model):
    """A tenant: an individual or an organization, with its members."""

    class Identity(models.TextChoices):
        INDIVIDUAL = "individual", _("Individual")
        ORGANIZATION = "organization", _("Organization")

    name = models.CharField(max_length=100, verbose_name=_("name"))
    identity = models.CharField(
        max_length=20,
        choices=Identity.choices,
        default=Identity.INDIVIDUAL,
        verbose_name=_("identity"),
    )
    time_zone = models.CharField(
        max_length=64,
        default="Asia/Shanghai",
        validators=[validate_time_zone],
        help_text=_("Calendar-day SMS limits and daily figures use this time zone."),
        verbose_name=_("time zone"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    @property
    def is_organization(self) -> bool:
        return self.identity == self.Identity.ORGANIZATION

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def find_authorization(self, *, confirmed: bool = False):
        """This account's Tencent Cloud authorization (only a confirmed one if asked), or None."""
        authorizations = TencentCloudAuthorization.objects.filter(account=self)
        if confirmed:
            authorizations = authorizations.confirmed()
        return authorizations.first()

    @transaction.atomic
    def authorize_tencent_cloud(self, *, secret_id: str, secret_key: str, by, now=None):
        """Store (or replace) the account's Tencent Cloud key pair; it must be confirmed again."""
        secret_id, secret_key = secret_id.strip(), secret_key.strip()
        if not secret_id or not secret_key:
            raise ValidationError("Both SecretId and SecretKey are required.")
        auth, _ = TencentCloudAuthorization.objects.update_or_create(
            account=self,
            defaults={
                "secret_id": secret_id,
                "secret_key_sealed": crypto.seal(secret_key),
                "secret_key_hint": secret_key[-4:],
                "authorized_by": by,
                "authorized_at": now or timezone.now(),
                "status": TencentCloudAuthorization.Status.UNCONFIRMED,
                "checked_at": None,
                "error_code": "",
                "error_message": "",
            },
        )
        return auth


class MembershipQuerySet(models.QuerySet):
    def of(self, user, account_id) -> "Membership | None":
        """The user's membership of the account, or None (treat as "no such account")."""
        if not user or not user.is_authenticated:
            return None
        return self.select_related("account").filter(user=user, account_id=account_id).first()


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("account")
    )
    role = models.CharField(
        max_length=20, choices=Role.choices, default=Role.VIEWER, verbose_name=_("role")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="accounts_one_membership"),
            # Exactly one owner: at most one by this partial unique index; at least one because
            # ownership only moves by ``accounts.team.transfer_ownership`` (old owner → admin,
            # then new → owner, in one transaction) and the owner cannot be demoted or removed.
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(role="owner"),
                name="accounts_one_owner",
                violation_error_message=_(
                    "An account has exactly one owner; the owner can transfer ownership on the "
                    "Team page."
                ),
            ),
        ]
        ordering = ["account__name", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.account} ({self.role})"

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(minimum)]

    @property
    def masking(self) -> Masking:
        """The one rule for personal data (phone numbers, device tokens, what an SMS said):
        operators and above see it in full, viewers masked. The console, the management API
        and every CSV export apply this, so none shows a viewer more than another."""
        return Masking(reveal=self.has_role(PERSONAL_DATA_ROLE))

    def require(self, minimum: str) -> None:
        """Raise PermissionDenied (a 403) if the member's role is below ``minimum``."""
        if not self.has_role(minimum):
            raise PermissionDenied(f"This needs the {Role(minimum).label} role or higher.")


# How many API key pairs a user may have (``ApiKeyPair.MAX_PER_USER``); module level so
# the model's Meta constraints can use it.
MAX_API_KEYS_PER_USER = 2


class KeyLimitReached(Exception):
    """The user already has the most API key pairs allowed."""


def keyed_hash(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` under a key derived from SECRET_KEY and ``purpose``: how
    secrets we only need to recognise (API SecretKeys, invitation tokens) are stored."""
    pepper = hashlib.sha256(f"{purpose}:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(pepper, value.encode(), hashlib.sha256).hexdigest()


def _secret_hash(secret_key: str) -> str:
    """Keyed hash of an API SecretKey (what Basic authentication compares)."""
    return keyed_hash(secret_key, purpose="pushconsole-api-key")


def sign(secret_key: str, timestamp: str, key_id: str, body: bytes) -> str:
    """TPNS-style signature: Base64(lowercase hex(HMAC-SHA256(key, TimeStamp + id + body)))."""
    message = timestamp.encode() + key_id.encode() + body
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


class ApiKeyPairQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(enabled=True, user__is_active=True)

    def issue(self, user, *, name: str = "", now=None) -> tuple["ApiKeyPair", str]:
        """Create a key pair for ``user``; returns it with its SecretKey, the only time it exists.

        The per-user limit is a database constraint on (user, slot), so two concurrent
        creations can never yield more pairs than there are slots.
        """
        secret_key = random_string(40)
        taken = set(self.filter(user=user).values_list("slot", flat=True))
        for slot in range(1, ApiKeyPair.MAX_PER_USER + 1):
            if slot in taken:
                continue
            try:
                with transaction.atomic():
                    key = self.create(
                        user=user,
                        name=name.strip()[:100],
                        slot=slot,
                        secret_id="AKID" + random_string(32),
                        secret_prefix=secret_key[:4],
                        secret_hash=_secret_hash(secret_key),
                        secret_sealed=crypto.seal(secret_key),
                        created_at=now or timezone.now(),
                    )
            except IntegrityError:
                continue  # someone took this slot a moment ago; try the next one
            return key, secret_key
        raise KeyLimitReached(
            f"You already have {ApiKeyPair.MAX_PER_USER} API key pairs; "
            "delete one to create another."
        )


class ApiKeyPair(models.Model):
    """A SecretId/SecretKey pair authenticating its user on the management API.

    The SecretKey is shown once. It is stored as a keyed hash (compared for Basic
    authentication) and sealed with FIELD_ENCRYPTION_KEYS, because verifying the signed form
    needs the key itself; ``secret_prefix`` lets a user recognise a key.
    """

    MAX_PER_USER = MAX_API_KEYS_PER_USER
    LAST_USED_RESOLUTION = timedelta(minutes=1)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("user"),
    )
    name = models.CharField(max_length=100, blank=True, verbose_name=_("name"))
    slot = models.PositiveSmallIntegerField(verbose_name=_("slot"))
    secret_id = models.CharField(_("SecretId"), max_length=40, unique=True)
    secret_prefix = models.CharField(max_length=4, verbose_name=_("secret prefix"))
    secret_hash = models.CharField(max_length=64, verbose_name=_("secret hash"))
    secret_sealed = models.TextField(verbose_name=_("secret sealed"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))

    objects = ApiKeyPairQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("API key pairs")
        verbose_name = _("API key pair")
        ordering = ["created_at", "id"]
        constraints = [
            # Enforces "at most two per user" race-free: a third pair has no slot to take.
            models.UniqueConstraint(fields=["user", "slot"], name="accounts_apikey_slot"),
            models.CheckConstraint(
                condition=models.Q(slot__gte=1, slot__lte=MAX_API_KEYS_PER_USER),
                name="accounts_apikey_slot_range",
            ),
        ]

    def __str__(self):
        return self.secret_id

    @property
    def masked_secret(self) -> str:
        return f"{self.secret_prefix}{'•' * 12}"

    def check_secret(self, secret_key: str) -> bool:
        return hmac.compare_digest(self.secret_hash, _secret_hash(secret_key))

    def check_signature(
        self, signature: str, *, method: str, path: str, query: str, timestamp: str, body: bytes
    ) -> bool:
        """``Sign`` over the method, path, query, TimeStamp, SecretId and body
        (``accounts.signing.management_string_to_sign``)."""
        message = management_string_to_sign(
            method=method,
            path=path,
            query=query,
            timestamp=timestamp,
            secret_id=self.secret_id,
            body=body,
        )
        expected = hmac_sign(crypto.unseal(self.secret_sealed), message)
        return hmac.compare_digest(expected.encode(), signature.encode())

    def signed_the_old_way(self, signature: str, *, timestamp: str, body: bytes) -> bool:
        """``Sign`` over TimeStamp + SecretId + body only: the first signed string, which
        did not cover the method, path or query. Refused, with a message saying so."""
        expected = sign(crypto.unseal(self.secret_sealed), timestamp, self.secret_id, body)
        return hmac.compare_digest(expected.encode(), signature.encode())

    def touch(self, now=None) -> None:
        """Record use, writing at most once a minute per key."""
        now = now or timezone.now()
        stale = models.Q(last_used_at__isnull=True) | models.Q(
            last_used_at__lt=now - self.LAST_USED_RESOLUTION
        )
        ApiKeyPair.objects.filter(stale, pk=self.pk).update(last_used_at=now)


# The shape of a Tencent Cloud API key pair (CAM → API keys). Tencent's own example pair is
# AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE / Gu5t9xGARNpq86cd98joQYCN3EXAMPLE: "AKID" and 32
# letters and digits (36 in all), and 32 letters and digits. Tencent documents no fixed length,
# so longer ones of the same alphabet are let through; what is refused is what cannot be a key
# (a truncated paste, spaces or quotes inside, the two fields swapped). Applied where people type
# a pair in: the console's form and the management API (``AuthorizeSerializer``).
TENCENT_SECRET_ID = re.compile(r"AKID[A-Za-z0-9]{32,92}")
TENCENT_SECRET_KEY = re.compile(r"[A-Za-z0-9]{32,128}")


def validate_tencent_secret_id(value: str) -> None:
    value = value.strip()
    if TENCENT_SECRET_ID.fullmatch(value):
        return
    if value[:4].upper() == "AKID" and not value.startswith("AKID"):
        hint = " It begins with AKID in capitals."
    elif TENCENT_SECRET_KEY.fullmatch(value):
        hint = " This looks like a SecretKey: are the two fields swapped?"
    else:
        hint = f" This one has {len(value)} characters{_odd_characters(value)}."
    raise ValidationError(
        "A Tencent Cloud SecretId starts with AKID, followed by letters and digits (36 "
        "characters in all for a key from the API key page)." + hint,
        code="secret_id_shape",
    )


def validate_tencent_secret_key(value: str) -> None:
    value = value.strip()
    # A SecretId has the key's alphabet too: one pasted here is refused by its AKID prefix.
    if TENCENT_SECRET_KEY.fullmatch(value) and not TENCENT_SECRET_ID.fullmatch(value):
        return
    if TENCENT_SECRET_ID.fullmatch(value):
        hint = " This looks like a SecretId: are the two fields swapped?"
    else:
        hint = f" This one has {len(value)} characters{_odd_characters(value)}."
    raise ValidationError(
        "A Tencent Cloud SecretKey is 32 letters and digits (copy it whole from the API key "
        "page)." + hint,
        code="secret_key_shape",
    )


def _odd_characters(value: str) -> str:
    # Never echo the secret itself: only say what kind of character does not belong.
    if any(c.isspace() for c in value):
        return ", with spaces inside"
    if any(not c.isascii() or not c.isalnum() for c in value):
        return ", some of them neither letters nor digits"
    return ""


class TencentCloudAuthorizationQuerySet(models.QuerySet):
    def confirmed(self):
        return self.filter(status=TencentCloudAuthorization.Status.CONFIRMED)


class TencentCloudAuthorization(models.Model):
    """The customer's Tencent Cloud key pair, used to call Cloud SMS on the account's behalf."""

    class Status(models.TextChoices):
        UNCONFIRMED = "unconfirmed", _("Not confirmed yet")
        CONFIRMED = "confirmed", _("Confirmed")
        REFUSED = "refused", _("Refused by Tencent Cloud")

    account = models.OneToOneField(
        Account,
        on_delete=models.CASCADE,
        related_name="tencent_cloud_authorization",
        verbose_name=_("account"),
    )
    secret_id = models.CharField(_("SecretId"), max_length=100)
    secret_key_sealed = models.TextField(verbose_name=_("secret key sealed"))
    secret_key_hint = models.CharField(max_length=4, verbose_name=_("secret key hint"))
    authorized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("authorized by"),
    )
    authorized_at = models.DateTimeField(default=timezone.now, verbose_name=_("authorized at"))
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.UNCONFIRMED, verbose_name=_("status")
    )
    checked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("checked at"))
    error_code = models.CharField(max_length=100, blank=True, verbose_name=_("error code"))
    error_message = models.TextField(blank=True, verbose_name=_("error message"))

    objects = TencentCloudAuthorizationQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("Tencent Cloud authorizations")
        verbose_name = _("Tencent Cloud authorization")

    def __str__(self):
        return f"{self.account}: {self.secret_id}"

    @property
    def masked_secret_key(self) -> str:
        return f"{'•' * 12}{self.secret_key_hint}"

    @property
    def is_confirmed(self) -> bool:
        return self.status == self.Status.CONFIRMED

    def secret_key(self) -> str:
        return crypto.unseal(self.secret_key_sealed)


class UsedSignatureQuerySet(models.QuerySet):
    def claim(self, digest: str, expires_at: int) -> bool:
        """Record a signature's first use: True, or False if it was used before (a replay).

        The unique ``digest`` decides: of two concurrent inserts one commits, the other fails.
        """
        try:
            with transaction.atomic():
                self.create(digest=digest, expires_at=expires_at)
        except IntegrityError:
            return False
        return True

    def purge(self, now: float) -> int:
        """Forget the signatures whose TimeStamp is now outside the skew window anyway."""
        return self.filter(expires_at__lt=int(now)).delete()[0]


class UsedSignature(models.Model):
    """A signed request that was accepted (the replay cache when Redis is not configured).

    ``digest`` is SHA-256 of what the signature covers and who signed it (see
    ``accounts.replay``); ``expires_at`` (unix seconds) is TimeStamp + the allowed skew, after
    which the same request is refused as stale, so the row is no longer needed.
    """

    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.BigIntegerField()

    objects = UsedSignatureQuerySet.as_manager()

    class Meta:
        indexes = [
            # The purge (accounts.tasks.purge_auth_records) deletes by expiry.
            models.Index(fields=["expires_at"], name="accounts_usedsig_expiry"),
        ]

    def __str__(self):
        return self.digest


class FailedAuthCountQuerySet(models.QuerySet):
    def blocked_until(self, key: str, limit: int, now: float) -> int | None:
        row = self.filter(key=key).values_list("count", "until").first()
        if row and row[0] >= limit and row[1] > now:
            return row[1]
        return None

    def add_failure(self, key: str, *, limit: int, window: int, lockout: int, now: float):
        """Count one failure; returns the end of the lockout (unix seconds) if it starts one.

        The row is created if missing, then locked and updated, so concurrent failures of
        the same address all count (SQLite serializes the writers instead).
        """
        now = int(now)
        self.bulk_create([FailedAuthCount(key=key, count=0, until=0)], ignore_conflicts=True)
        with transaction.atomic():
            row = self.select_for_update().get(key=key)
            if row.until <= now:  # the last window is over: a new one starts
                row.count, row.until = 0, now + window
            row.count += 1
            if row.count >= limit:
                row.until = max(row.until, now + lockout)
            row.save(update_fields=["count", "until"])
        return row.until if row.count >= limit else None

    def purge(self, now: float) -> int:
        return self.filter(until__lt=int(now)).delete()[0]


class FailedAuthCount(models.Model):
    """Failed API authentications of one client address on one API (``accounts.throttle``,
    when Redis is not configured). ``until``: the end of the counting window, or of the
    lockout once ``count`` reached the limit (unix seconds)."""

    key = models.CharField(max_length=100, unique=True)
    count = models.PositiveIntegerField()
    until = models.BigIntegerField()

    objects = FailedAuthCountQuerySet.as_manager()

    class Meta:
        indexes = [
            # The purge (accounts.tasks.purge_auth_records) deletes by expiry.
            models.Index(fields=["until"], name="accounts_failedauth_until"),
        ]

    def __str__(self):
        return f"{self.key}: {self.count}"


# Models in modules of their own: the audit trail of team and account changes and team
# invitations (accounts.team), and the user's own settings (language).
from .audit import AuditEvent  # noqa: E402, F401
from .invitations import Invitation  # noqa: E402, F401
from .preferences import Preference  # noqa: E402, F401
