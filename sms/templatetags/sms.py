from django import template

from sms.numbers import mask

register = template.Library()


@register.filter
def mask_number(number: str) -> str:
    return mask(number)
