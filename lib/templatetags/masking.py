"""Template filters applying ``Membership.masking`` on console pages.

Views put ``reveal`` (``request.membership.masking.reveal``) in the context; templates pass it:
``{{ device.token|token_for:reveal }}``, ``{{ message|sms_content_for:reveal }}``.
"""

from django import template

from lib.masking import Masking

register = template.Library()


@register.filter
def token_for(token: str, reveal: bool) -> str:
    return Masking(reveal=bool(reveal)).token(token)


@register.filter
def sms_content_for(message, reveal: bool) -> str:
    """An SmsMessage's content (masked with its own template parameters)."""
    return Masking(reveal=bool(reveal)).content(message.content, message.params)


@register.filter
def number_for(number: str, reveal: bool) -> str:
    return Masking(reveal=bool(reveal)).number(number)
