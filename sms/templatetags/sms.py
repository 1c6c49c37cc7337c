from django import template

from sms import rules
from sms.numbers import mask

register = template.Library()


@register.filter
def mask_number(number: str) -> str:
    return mask(number)


@register.filter
def reason_label(code: str) -> str:
    """``{{ m.reason|reason_label }}``: a blocked or failed SMS's reason in words."""
    return rules.reason_label(code)
