"""The SMS platform's models: signatures and templates under review, SMS applications, rate-limit
policy, packages (quota), SMS records with their receipts.

One module per seam; every public name is re-exported here, so ``from sms.models import X`` is
the way to import them (migrations name functions such as ``sms.models.new_receipt_token``).

This app never imports ``push``: a message names what it was sent for through ``source_type``,
``source_id`` and ``session_context``, registered by the app that sends (``sms.sources``).
"""

from .applications import SmsApplication, new_receipt_token
from .checkpoints import Checkpoint
from .limits import INDIVIDUAL_POLICY, ExemptNumber, RateLimitPolicy
from .messages import UNKNOWN_AFTER, SmsMessage, SmsMessageQuerySet
from .oneoff import OneOffSend
from .packages import Package, PackageCharge, PackageExpiryNotice, PackageQuerySet, QuotaAlert
from .regions import Region, region_of
from .review import (
    IdentityApplication,
    ProviderStatus,
    ProviderSynced,
    ReviewDecision,
    Reviewed,
    ReviewedQuerySet,
    ReviewStatus,
)
from .signatures import SIGNATURE_TEXT, Signature, validate_signature_text
from .templates import (
    PLACEHOLDER,
    TEMPLATE_MAX_LENGTH,
    Template,
    render,
    template_params,
    validate_template_content,
)

__all__ = [
    "INDIVIDUAL_POLICY",
    "PLACEHOLDER",
    "SIGNATURE_TEXT",
    "TEMPLATE_MAX_LENGTH",
    "UNKNOWN_AFTER",
    "Checkpoint",
    "ExemptNumber",
    "IdentityApplication",
    "OneOffSend",
    "Package",
    "PackageCharge",
    "PackageExpiryNotice",
    "PackageQuerySet",
    "ProviderStatus",
    "ProviderSynced",
    "QuotaAlert",
    "RateLimitPolicy",
    "Region",
    "ReviewDecision",
    "Reviewed",
    "ReviewedQuerySet",
    "ReviewStatus",
    "Signature",
    "SmsApplication",
    "SmsMessage",
    "SmsMessageQuerySet",
    "Template",
    "new_receipt_token",
    "region_of",
    "render",
    "template_params",
    "validate_signature_text",
    "validate_template_content",
]
