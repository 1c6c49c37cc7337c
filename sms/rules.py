"""Why an SMS is not sent: the one vocabulary of blocking rules.

A blocked ``SmsMessage`` carries its rule in ``reason``; a supplementary SMS that is not sent
names it in its delivery's ``outcome_detail`` (``blocked``), and the preview, the statistics, the
API, the console and the CSV exports spell rules with these values. The values are stored data
and wire format: they never change.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Rule(models.TextChoices):
    # The send cannot go ahead at all (``sending.SmsRejected.rule``).
    TEMPLATE_NOT_APPROVED = "template_not_approved", _("Template not approved")
    SIGNATURE_NOT_APPROVED = "signature_not_approved", _("Signature not approved")
    SMS_APPLICATION_REMOVED = "sms_application_removed", _("SMS application removed")
    NO_AUTHORIZATION = "no_authorization", _("No confirmed Tencent Cloud authorization")
    # The number is of another region than the template's.
    WRONG_REGION = "wrong_region", _("Number of another region")
    # The sender's own cap on what one source may send (a push's ``max_sms``).
    BUDGET_EXHAUSTED = "budget_exhausted", _("Budget exhausted")
    # Rate limits per number (``limits.Limiter``), in the order they are checked.
    SAME_CONTENT = "same_content", _("Same content too soon")
    HOURLY_LIMIT = "hourly_limit", _("Hourly limit reached")
    DAILY_LIMIT = "daily_limit", _("Daily limit reached")
    # The package balance of the region (``quota.Wallet``).
    INSUFFICIENT_PACKAGE = "insufficient_package", _("Insufficient package")


def reason_label(code: str) -> str:
    """The words people read for a stored reason code, in the active language: a ``Rule``'s
    label; anything else (a provider's error code, e.g. ``LimitExceeded.PhoneNumberDailyLimit``)
    as the provider spells it. Every console page and people's export that shows a reason
    calls this; the code itself stays what the database and the APIs hold."""
    if code in _RULES:
        return str(Rule(code).label)
    return code


_RULES = frozenset(Rule.values)
