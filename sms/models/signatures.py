"""SMS signatures (【text】 prefixed to every message), reviewed here and at Tencent Cloud."""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account

from .regions import Region
from .review import ProviderSynced

# Tencent: 2–12 characters of CJK, letters and digits (reference §4.4, code 1012).
SIGNATURE_TEXT = re.compile(r"^[\u3400-\u9fffA-Za-z0-9]{2,12}$")


def validate_signature_text(value: str) -> None:
    if not SIGNATURE_TEXT.match(value):
        raise ValidationError(
            "A signature is 2 to 12 characters: Chinese characters, letters and digits only."
        )


class Signature(ProviderSynced):
    class SignType(models.IntegerChoices):
        COMPANY = 0, _("Company")
        APP = 1, _("App")
        TRADEMARK = 4, _("Trademark")
        GOVERNMENT = 5, _("Government or public institution")

    class DocumentType(models.IntegerChoices):
        THREE_IN_ONE = 0, _("Three-in-one business licence")
        BUSINESS_LICENCE = 1, _("Business licence")
        ORG_CODE = 2, _("Organization code certificate")
        SOCIAL_CREDIT = 3, _("Social credit code certificate")
        APP_SCREENSHOT = 4, _("App back-end screenshot")
        TRADEMARK = 7, _("Trademark registration certificate")

    class Purpose(models.IntegerChoices):
        SELF = 0, _("For own company, app or brand")
        OTHERS = 1, _("For someone else")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_signatures")
    text = models.CharField(max_length=12, validators=[validate_signature_text])
    region = models.CharField(max_length=10, choices=Region.choices, default=Region.MAINLAND)
    sign_type = models.SmallIntegerField(choices=SignType.choices, default=SignType.COMPANY)
    document_type = models.SmallIntegerField(
        choices=DocumentType.choices, default=DocumentType.BUSINESS_LICENCE
    )
    purpose = models.SmallIntegerField(choices=Purpose.choices, default=Purpose.SELF)
    proof_image = models.FileField(upload_to="sms/proofs/%Y/%m/", blank=True)
    remark = models.CharField(max_length=500, blank=True)

    # Tencent's AddSmsSign takes the licence / certificate named by document_type as ProofImage.
    proof_field = "proof_image"

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Gate checks look up an account's signature by text and region.
            models.Index(fields=["account", "region", "text"], name="sms_signature_lookup_idx"),
            models.Index(fields=["status", "created_at"], name="sms_signature_queue_idx"),
        ]

    def __str__(self):
        return f"【{self.text}】 ({self.get_region_display()}, {self.get_status_display()})"
