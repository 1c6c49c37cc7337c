"""SMS applications (Tencent's SdkAppId) and how their delivery receipts arrive."""

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account


def new_receipt_token() -> str:
    return secrets.token_urlsafe(32)


class SmsApplication(models.Model):
    """An SMS application (Tencent's SdkAppId) of an account; ``sms_info.sms_app_id`` names one."""

    class ReceiptMode(models.TextChoices):
        CALLBACK = "callback", _("Callback (Tencent posts status reports to our URL)")
        PULL = "pull", _("Pull (we ask Tencent every minute)")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_applications")
    sdk_app_id = models.CharField("SdkAppId", max_length=40)
    name = models.CharField(max_length=100, blank=True)
    receipt_mode = models.CharField(
        max_length=10, choices=ReceiptMode.choices, default=ReceiptMode.CALLBACK
    )
    receipt_token = models.CharField(max_length=64, unique=True, default=new_receipt_token)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "SMS application"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "sdk_app_id"], name="sms_application_per_account"
            )
        ]

    def __str__(self):
        return f"{self.sdk_app_id} {self.name}".strip()
