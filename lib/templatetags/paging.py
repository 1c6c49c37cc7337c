"""``{% for n in page|page_numbers %}``: the numbered links of ``templates/_pagination.html``."""

from django import template

from lib import paging

register = template.Library()


@register.filter
def page_numbers(page) -> list[int | None]:
    return paging.page_numbers(page)
