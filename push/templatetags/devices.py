"""``{% load devices %}``: a device's facts in words (``push.token_reasons``)."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from push import token_reasons

register = template.Library()


@register.filter
def token_reason(reason: str) -> SafeString:
    """``{{ device.channel_token_invalid_reason|token_reason }}``: the vendor's word escaped in
    ``<code>``; the translated words around it are trusted as ``blocktranslate`` trusts them."""
    return mark_safe(
        token_reasons.reason_label(reason, quote=lambda word: format_html("<code>{}</code>", word))
    )
