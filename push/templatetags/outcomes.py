"""``{% load outcomes %}``: a delivery's supplementary-SMS outcome in words (``push.outcomes``)."""

from django import template

from push import outcomes

register = template.Library()


@register.filter
def outcome_label(delivery) -> str:
    """``{{ d|outcome_label }}``: the delivery's outcome and its detail."""
    return outcomes.outcome_label(delivery.outcome, delivery.outcome_detail)


@register.filter
def outcome_key_label(key: str) -> str:
    """``{{ key|outcome_key_label }}``: a preview's or a figure's key (``blocked:daily_limit``)."""
    return outcomes.key_label(key)


@register.filter
def detail_label(detail: str) -> str:
    """``{{ rule|detail_label }}``: a blocking rule or an outcome's detail alone."""
    return outcomes.detail_label(detail)
