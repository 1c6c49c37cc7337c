"""Prepaid quota: packages per region, the charges that spend them on messages, and the alerts
sent as they run out (consumed by ``sms.quota``)."""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account

from .regions import Region

# The packages page highlights a package ending within EXPIRING_SOON; the banner warns of one
# with parts left ending within EXPIRY_WARNING (its parts are lost then).
EXPIRING_SOON = timedelta(days=30)
EXPIRY_WARNING = timedelta(days=7)


class PackageQuerySet(models.QuerySet):
    def valid(self, now=None):
        now = now or timezone.now()
        return self.filter(valid_from__lte=now, valid_until__gt=now)

    def expiring_with_balance(self, now=None, within: timedelta = EXPIRY_WARNING):
        """Valid packages with parts left that end within ``within``: their parts are lost."""
        now = now or timezone.now()
        return self.valid(now).filter(valid_until__lte=now + within, used__lt=F("quantity"))


class Package(models.Model):
    """Prepaid SMS quota for one region; consumed by fee, earliest expiry first."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_packages")
    region = models.CharField(max_length=10, choices=Region.choices, default=Region.MAINLAND)
    quantity = models.PositiveIntegerField(help_text="SMS parts (billed segments) bought.")
    used = models.PositiveIntegerField(default=0)
    purchased_at = models.DateTimeField(default=timezone.now)
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The one-time key of the console form that recorded it (``sms.package_views``): a second
    # post of the same form (a double click, a resend) finds it taken and records nothing.
    request_key = models.UUIDField(null=True, blank=True, editable=False)

    objects = PackageQuerySet.as_manager()

    class Meta:
        ordering = ["valid_until", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="sms_package_quantity_pos"),
            models.CheckConstraint(
                condition=Q(used__lte=F("quantity")), name="sms_package_not_overdrawn"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")), name="sms_package_valid_period"
            ),
            models.UniqueConstraint(
                fields=["account", "request_key"], name="sms_package_one_per_request"
            ),
        ]
        indexes = [
            # Consumption: an account's valid packages of a region, earliest expiry first.
            models.Index(
                fields=["account", "region", "valid_until"], name="sms_package_consume_idx"
            )
        ]

    def __str__(self):
        return f"{self.quantity} {self.get_region_display()} SMS until {self.valid_until:%Y-%m-%d}"

    @property
    def left(self) -> int:
        return self.quantity - self.used

    def state(self, now=None) -> str:
        """``upcoming``, ``expired``, ``used_up``, ``expiring`` (ends within EXPIRING_SOON) or
        ``valid``: what the packages page marks it as."""
        now = now or timezone.now()
        if now < self.valid_from:
            return "upcoming"
        if now >= self.valid_until:
            return "expired"
        if self.left <= 0:
            return "used_up"
        return "expiring" if self.valid_until - now <= EXPIRING_SOON else "valid"

    def days_left(self, now=None) -> int:
        """Whole days until it ends (0 in its last day; negative once it ended)."""
        return (self.valid_until - (now or timezone.now())) // timedelta(days=1)


class QuotaAlert(models.Model):
    """A warning sent to the owners (80 % used, or exhausted); sent once per level per purchase."""

    class Level(models.TextChoices):
        # xgettext:no-python-format
        LOW = "low", _("80 % used")
        EXHAUSTED = "exhausted", _("Exhausted")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_quota_alerts")
    region = models.CharField(max_length=10, choices=Region.choices)
    level = models.CharField(max_length=10, choices=Level.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["account", "region", "level", "created_at"], name="sms_alert_idx")
        ]

    def __str__(self):
        return f"{self.account}: {self.region} {self.get_level_display()}"


class PackageExpiryNotice(models.Model):
    """The warning that a package with parts left ends within ``EXPIRY_WARNING``, e-mailed to
    the account's owners and admins once per package (``quota.warn_expiring_packages``).

    The row is written before the e-mails go, and its package is unique: of two workers that
    find the same package at once, one inserts and sends, the other's insert fails and it
    sends nothing."""

    package = models.OneToOneField(
        Package, on_delete=models.CASCADE, related_name="expiry_notice", verbose_name=_("package")
    )
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    emails = models.PositiveSmallIntegerField(
        _("e-mails"), default=0, help_text=_("E-mails that went out.")
    )

    class Meta:
        verbose_name = _("package expiry notice")
        verbose_name_plural = _("package expiry notices")

    def __str__(self):
        return f"Expiry notice of package {self.package_id}"

    @classmethod
    def claim(cls, package, *, now=None) -> "PackageExpiryNotice | None":
        """The package's new notice, or None if it has one already (committed at once, so a
        worker racing for it waits for this insert and then fails)."""
        try:
            with transaction.atomic():
                return cls.objects.create(package=package, created_at=now or timezone.now())
        except IntegrityError:
            return None


class PackageCharge(models.Model):
    """Parts of one package spent on one message; deleted (and refunded) if the send fails."""

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="charges")
    message = models.ForeignKey("SmsMessage", on_delete=models.CASCADE, related_name="charges")
    amount = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["package", "at"], name="sms_charge_history_idx")]

    def __str__(self):
        return f"{self.amount} from package {self.package_id} for message {self.message_id}"
