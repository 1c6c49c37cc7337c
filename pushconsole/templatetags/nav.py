"""The console's navigation (``templates/base.html``): which link is the page being shown.

``<a href="…"{% current "push_devices" "push_device" %}>`` marks the link with
``aria-current="page"`` (styled as the current page, and announced as such by a screen reader)
when the request's URL name is one of the names given; a name ending in ``*`` matches every URL
name that starts with it (``"push_push*"`` covers a push's page and its actions).
"""

from django import template
from django.utils.safestring import mark_safe

register = template.Library()

CURRENT = mark_safe(' aria-current="page"')


def is_current(url_name: str | None, names) -> bool:
    if not url_name:
        return False
    for name in names:
        if name.endswith("*") and url_name.startswith(name[:-1]):
            return True
        if url_name == name:
            return True
    return False


@register.simple_tag(takes_context=True)
def current(context, *names) -> str:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    return CURRENT if is_current(getattr(match, "url_name", None), names) else ""
