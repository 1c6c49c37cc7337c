"""SMS templates with numbered placeholders {1}..{n}, reviewed here and at Tencent Cloud; the
public code an ``sms_info.sms_template_id`` names is ``Template.template_id``."""

import re
import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account

from .regions import Region
from .review import ProviderSynced

PLACEHOLDER = re.compile(r"\{(\d+)\}")
TEMPLATE_MAX_LENGTH = 500


def template_params(content: str) -> int:
    """Number of parameters of a template; placeholders must be {1}..{n}, consecutive."""
    numbers = sorted({int(n) for n in PLACEHOLDER.findall(content)})
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValidationError(
            "Placeholders must be numbered {1}, {2}, … consecutively from {1}; found "
            + ", ".join(f"{{{n}}}" for n in numbers)
        )
    return len(numbers)


def validate_template_content(content: str) -> None:
    template_params(content)
    if not PLACEHOLDER.sub("", content).strip():
        raise ValidationError("A template cannot consist of placeholders only.")
    if len(content) > TEMPLATE_MAX_LENGTH:
        raise ValidationError(f"A template is at most {TEMPLATE_MAX_LENGTH} characters.")


def render(content: str, params) -> str:
    return PLACEHOLDER.sub(lambda m: str(params[int(m.group(1)) - 1]), content)


class Template(ProviderSynced):
    class Kind(models.TextChoices):
        VERIFICATION = "verification", _("Verification code")
        NOTIFICATION = "notification", _("Notification")
        MARKETING = "marketing", _("Marketing")

    # Tencent's SmsType for AddSmsTemplate.
    PROVIDER_SMS_TYPE = {Kind.MARKETING: 1, Kind.NOTIFICATION: 2, Kind.VERIFICATION: 3}

    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="sms_templates",
        verbose_name=_("account"),
    )
    # The template's public ID, which ``sms_info.sms_template_id`` and the API's ``template_id``
    # carry. Named ``code`` in Python so that it is not mistaken for a foreign key's id column
    # (``SmsMessage.template_id`` is the template row's pk); the column keeps its name.
    code = models.CharField(
        _("template ID"),
        max_length=40,
        db_column="template_id",
        help_text=_(
            "The ID that sms_info.sms_template_id carries. For a template that already "
            "exists at Tencent Cloud, give its Tencent TemplateId."
        ),
    )
    name = models.CharField(_("name"), max_length=100)
    content = models.TextField(_("content"), validators=[validate_template_content])
    kind = models.CharField(
        _("kind"), max_length=20, choices=Kind.choices, default=Kind.NOTIFICATION
    )
    region = models.CharField(
        _("region"), max_length=10, choices=Region.choices, default=Region.MAINLAND
    )
    param_count = models.PositiveSmallIntegerField(_("parameters"), default=0, editable=False)
    remark = models.CharField(_("remark"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("template")
        verbose_name_plural = _("templates")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "code"], name="sms_template_id_per_account")
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="sms_template_queue_idx")]

    def __str__(self):
        return f"{self.code} {self.name} ({self.get_status_display()})"

    def save(self, *args, **kwargs):
        self.param_count = template_params(self.content)
        if not self.code:
            self.code = self._next_code()
        super().save(*args, **kwargs)

    def amend(self, fields: list[str], **kwargs):
        # The parameter count follows the content, as on save.
        self.param_count = template_params(self.content)
        return super().amend([*fields, "param_count"], **kwargs)

    def _next_code(self) -> str:
        # Numeric like Tencent's; random so that IDs are not guessable across tenants.
        return str(secrets.randbelow(9_000_000) + 1_000_000)

    @property
    def provider_template_id(self) -> str:
        return self.provider_id or self.code

    def render(self, params, sign_name: str = "") -> str:
        body = render(self.content, params)
        return f"【{sign_name}】{body}" if sign_name else body

    def check_length(self, sign_name: str) -> None:
        if len(self.content) + (len(sign_name) + 2 if sign_name else 0) > TEMPLATE_MAX_LENGTH:
            raise ValidationError(
                f"Template and signature together are over {TEMPLATE_MAX_LENGTH} characters."
            )
