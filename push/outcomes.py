"""The words people read for a delivery's supplementary-SMS outcome.

A decided delivery stores an ``outcome`` (``Delivery.Outcome``) and an ``outcome_detail``: the
SMS platform's rule when blocked (``sms.rules.Rule``), the provider's code when failed, the SMS
row's state or code when unknown, and what took it back when canceled. The preview and the
statistics count them as keys (``blocked:daily_limit``, ``no_phone``: ``plan.Decision.key``).
The codes stay as stored (the APIs and the machine-readable exports give them); every console
page shows them through these functions, in the reader's language.
"""

from django.utils.translation import gettext_lazy as _

from sms.models import SmsMessage
from sms.rules import reason_label

from .models import Delivery

# The details the push engine writes itself (``push.control._halt``, ``push.applications``).
_OWN_DETAILS = {
    f"push {Delivery.State.CANCELED}": _("the push was stopped"),
    f"push {Delivery.State.REVOKED}": _("the push was revoked"),
    "application deleted": _("the application was deleted"),
}
_STATES = frozenset(SmsMessage.State.values)


def detail_label(detail: str) -> str:
    """An ``outcome_detail`` in words: a rule's label, a state's, the engine's own words, or
    a provider's code as the provider spells it."""
    if detail in _OWN_DETAILS:
        return str(_OWN_DETAILS[detail])
    if detail in _STATES:
        return str(SmsMessage.State(detail).label)
    return reason_label(detail)


def outcome_label(outcome: str, detail: str = "") -> str:
    """An outcome (and its detail) in words: "Blocked: Daily limit"."""
    if not outcome:
        return ""
    label = str(Delivery.Outcome(outcome).label) if outcome in _OUTCOMES else outcome
    if not detail:
        return label
    return _("%(outcome)s: %(detail)s") % {"outcome": label, "detail": detail_label(detail)}


def key_label(key: str) -> str:
    """A decision's key (``blocked:daily_limit``, ``no_phone``) in words."""
    outcome, _sep, detail = key.partition(":")
    return outcome_label(outcome, detail)


_OUTCOMES = frozenset(Delivery.Outcome.values)
