"""Per-account rate-limit policy and the numbers exempt from it (enforced by ``sms.limits``)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from accounts.models import Account

INDIVIDUAL_POLICY = (
    "Individual accounts cannot change their SMS rate-limit policy (as at Tencent Cloud). "
    "Apply for organizational identity (company name, credential number, proof); once a "
    "reviewer approves it, the account becomes an organization and the policy is editable."
)


class RateLimitPolicy(models.Model):
    """Per-account frequency limits; defaults are Tencent Cloud SMS's own."""

    DEFAULT_SAME_CONTENT_SECONDS = 30
    DEFAULT_DAILY = 10
    MAX_EXEMPT_NUMBERS = 300

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="sms_rate_limit_policy"
    )
    same_content_seconds = models.PositiveIntegerField(
        default=DEFAULT_SAME_CONTENT_SECONDS,
        help_text="The same content to the same number at most once in this many seconds "
        "(0 = no limit).",
    )
    daily_limit = models.PositiveIntegerField(
        default=DEFAULT_DAILY,
        help_text="At most this many SMS per number per calendar day in the account's time zone "
        "(0 = no limit).",
    )
    hourly_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many SMS per number in any 60 minutes (empty = no limit).",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "rate-limit policies"

    def __str__(self):
        return f"Rate limits of {self.account}"

    @classmethod
    def for_account(cls, account) -> "RateLimitPolicy":
        """The account's policy; an unsaved default one if it never changed it."""
        return cls.objects.filter(account=account).first() or cls(account=account)

    @classmethod
    @transaction.atomic
    def change(
        cls,
        account,
        *,
        same_content_seconds,
        daily_limit,
        hourly_limit,
        exempt_numbers,
        by,
        now=None,
    ) -> "RateLimitPolicy":
        """Replace the policy and the exempt list (normalised E.164 numbers, ≤ 300).

        Only organizations may change it; callers check the caller's role.
        """
        if not account.is_organization:
            raise ValidationError(INDIVIDUAL_POLICY)
        numbers = sorted(set(exempt_numbers))
        if len(numbers) > cls.MAX_EXEMPT_NUMBERS:
            raise ValidationError(
                {"exempt_numbers": f"At most {cls.MAX_EXEMPT_NUMBERS} exempt numbers."}
            )
        # update_or_create locks the policy row: concurrent changes apply one after the other.
        policy, _ = cls.objects.update_or_create(
            account=account,
            defaults={
                "same_content_seconds": same_content_seconds,
                "daily_limit": daily_limit,
                "hourly_limit": hourly_limit,
                "updated_by": by,
                "updated_at": now or timezone.now(),
            },
        )
        ExemptNumber.objects.filter(account=account).exclude(number__in=numbers).delete()
        ExemptNumber.objects.bulk_create(
            [ExemptNumber(account=account, number=n) for n in numbers], ignore_conflicts=True
        )
        return policy

    def exempt_numbers(self) -> list[str]:
        return list(
            ExemptNumber.objects.filter(account_id=self.account_id).values_list("number", flat=True)
        )


class ExemptNumber(models.Model):
    """A number the account's rate limits do not apply to (at most 300, as at Tencent)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_exempt")
    number = models.CharField(max_length=20)
    note = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["account", "number"], name="sms_exempt_per_account")
        ]

    def __str__(self):
        return self.number
