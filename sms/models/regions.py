"""SMS regions: Tencent Cloud bills and routes the Chinese mainland and the rest of the world
separately (signatures, templates, packages and messages each belong to one)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Region(models.TextChoices):
    MAINLAND = "mainland", _("Chinese mainland")
    GLOBAL = "global", _("Global (outside Chinese mainland)")


def region_of(number: str) -> str:
    """The SMS region of an E.164 number: +86 is mainland, everything else global."""
    return Region.MAINLAND if number.startswith("+86") else Region.GLOBAL
