"""Why a device's channel token was marked invalid, in the reader's words.

``Device.channel_token_invalid_reason`` keeps what was learnt, as it was learnt (the admin, the
deliveries' ``pruned: …`` answers and the channel figures show it unchanged): the push
service's answer to a send, as the vendor spelled it (``Unregistered``, ``bad_regid``,
``expireTokens``), or a vendor receipt's verdict, which ``push.receipts`` writes as
``receipt: <the receipt's status>`` or, when the receipt gave none, ``receipt: invalid token``.
Pages say which of these it was in the reader's language and quote the vendor's own word.
"""

from collections.abc import Callable

from django.utils.translation import gettext as _

RECEIPT = "receipt: "  # push.receipts._prune
RECEIPT_WITHOUT_STATUS = "receipt: invalid token"


def reason_label(reason: str, quote: Callable[[str], str] = str) -> str:
    """The stored reason in words, the vendor's word passed through ``quote`` (a page puts it
    in ``<code>``); "" for none (the page says that no reason was given)."""
    if not reason:
        return ""
    if reason == RECEIPT_WITHOUT_STATUS:
        return _("a receipt of the push service: the token is invalid")
    if reason.startswith(RECEIPT):
        status = quote(reason.removeprefix(RECEIPT))
        return _("a receipt of the push service, status %(status)s") % {"status": status}
    return _("the push service's answer to a push: %(answer)s") % {"answer": quote(reason)}
