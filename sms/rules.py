"""Why an SMS is not sent: the one vocabulary of blocking rules.

A blocked ``SmsMessage`` carries its rule in ``reason``; a supplementary SMS that is not sent
names it in its delivery's ``outcome_detail`` (``blocked``), and the preview, the statistics, the
API, the console and the CSV exports spell rules with these values. The values are stored data
and wire format: they never change.
"""

from django.db import models


class Rule(models.TextChoices):
    # The send cannot go ahead at all (``sending.SmsRejected.rule``).
    TEMPLATE_NOT_APPROVED = "template_not_approved", "Template not approved"
    SIGNATURE_NOT_APPROVED = "signature_not_approved", "Signature not approved"
    SMS_APPLICATION_REMOVED = "sms_application_removed", "SMS application removed"
    NO_AUTHORIZATION = "no_authorization", "No confirmed Tencent Cloud authorization"
    # The number is of another region than the template's.
    WRONG_REGION = "wrong_region", "Number of another region"
    # The sender's own cap on what one source may send (a push's ``max_sms``).
    BUDGET_EXHAUSTED = "budget_exhausted", "Budget exhausted"
    # Rate limits per number (``limits.Limiter``), in the order they are checked.
    SAME_CONTENT = "same_content", "Same content too soon"
    HOURLY_LIMIT = "hourly_limit", "Hourly limit"
    DAILY_LIMIT = "daily_limit", "Daily limit"
    # The package balance of the region (``quota.Wallet``).
    INSUFFICIENT_PACKAGE = "insufficient_package", "Insufficient package"
