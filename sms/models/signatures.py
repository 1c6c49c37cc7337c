"""SMS signatures (【text】 prefixed to every message), reviewed here and at Tencent Cloud."""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Account

from .regions import Region
from .review import ProviderSynced, ReviewedQuerySet, ReviewStatus

# Tencent: 2–12 characters of CJK, letters and digits (reference §4.4, code 1012).
SIGNATURE_TEXT = re.compile(r"^[\u3400-\u9fffA-Za-z0-9]{2,12}$")


def validate_signature_text(value: str) -> None:
    if not SIGNATURE_TEXT.match(value):
        raise ValidationError(
            "A signature is 2 to 12 characters: Chinese characters, letters and digits only."
        )


# The applications that hold a signature text: no second one of the same text while one of these
# exists (in the same account and region). A rejected or withdrawn one frees the text.
HOLDS_TEXT = (ReviewStatus.PENDING, ReviewStatus.APPROVED)


class SignatureQuerySet(ReviewedQuerySet):
    def holding_text(self, account, region: str, text: str):
        """The account's pending or approved signatures of ``region`` with ``text``, compared as
        Tencent compares signatures: surrounding whitespace dropped, letters in any case (the
        text is otherwise only CJK characters and ASCII letters and digits, so nothing else
        can differ in spelling). ``sms_signature_text_once`` holds the same in the database."""
        return self.filter(
            account=account, region=region, text__iexact=text.strip(), status__in=HOLDS_TEXT
        )

    def text_taken(self, account, region: str, text: str, *, exclude_pk=None) -> str:
        """Why ``text`` cannot be applied for (the form's and the API's error), or ""."""
        held = self.holding_text(account, region, text).exclude(pk=exclude_pk).first()
        if held is None:
            return ""
        return gettext(
            "This account already has the signature 【%(text)s】 for this region (%(status)s): "
            "withdraw it, or wait for its review, before applying again."
        ) % {"text": held.text, "status": held.get_status_display()}


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

    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="sms_signatures",
        verbose_name=_("account"),
    )
    text = models.CharField(_("signature"), max_length=12, validators=[validate_signature_text])
    region = models.CharField(
        _("region"), max_length=10, choices=Region.choices, default=Region.MAINLAND
    )
    sign_type = models.SmallIntegerField(
        _("signature type"), choices=SignType.choices, default=SignType.COMPANY
    )
    document_type = models.SmallIntegerField(
        _("document type"), choices=DocumentType.choices, default=DocumentType.BUSINESS_LICENCE
    )
    purpose = models.SmallIntegerField(_("purpose"), choices=Purpose.choices, default=Purpose.SELF)
    proof_image = models.FileField(_("proof image"), upload_to="sms/proofs/%Y/%m/", blank=True)
    remark = models.CharField(_("remark"), max_length=500, blank=True)

    # Tencent's AddSmsSign takes the licence / certificate named by document_type as ProofImage.
    proof_field = "proof_image"

    objects = SignatureQuerySet.as_manager()

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        ordering = ["-created_at", "-id"]
        constraints = [
            # One live application per signature text (``SignatureQuerySet.holding_text``): two
            # requests applying at once cannot both get in.
            models.UniqueConstraint(
                Lower("text"),
                "account",
                "region",
                condition=Q(status__in=HOLDS_TEXT),
                name="sms_signature_text_once",
            )
        ]
        indexes = [
            # Gate checks look up an account's signature by text and region.
            models.Index(fields=["account", "region", "text"], name="sms_signature_lookup_idx"),
            models.Index(fields=["status", "created_at"], name="sms_signature_queue_idx"),
        ]

    def __str__(self):
        return f"【{self.text}】 ({self.get_region_display()}, {self.get_status_display()})"
