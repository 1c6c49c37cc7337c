"""Tencent Cloud's SMS status-report callback: POST /callbacks/sms/<receipt_token>.

Tencent posts a JSON array of reports (reference §4.5) and expects ``{"result": 0, "errmsg":
"OK"}``; anything else counts as a failed delivery of the callback. No session, no CSRF token:
the caller is authenticated by the unguessable token in the URL alone, which names the SMS
application the reports belong to.
"""

import hmac
import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import receipts
from .models import SmsApplication

log = logging.getLogger(__name__)

# Longer than any token we issue (token_urlsafe(32) is 43 characters; the column holds 64).
MAX_TOKEN_LENGTH = 64


def _application(token: str) -> SmsApplication | None:
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    application = SmsApplication.objects.filter(receipt_token=token).first()
    # The lookup finds the row; the constant-time comparison is what vouches for the caller.
    if application is None or not hmac.compare_digest(
        application.receipt_token.encode(), token.encode()
    ):
        return None
    return application


@csrf_exempt
@require_POST
def status_report(request, token):
    application = _application(token)
    if application is None:
        return JsonResponse({"result": 1, "errmsg": "unknown callback URL"}, status=404)
    try:
        reports = receipts.parse_callback(request.body)
    except receipts.MalformedReport as exc:
        log.warning("malformed status report for %s: %s", application.sdk_app_id, exc)
        return JsonResponse({"result": 1, "errmsg": str(exc)}, status=400)
    changed = receipts.apply_receipts(application, reports)
    log.info(
        "status reports for %s: %d received, %d applied",
        application.sdk_app_id,
        len(reports),
        changed,
    )
    # Reports for SerialNos we do not know (or already settled) are accepted too: Tencent would
    # otherwise retry them, and a repeated report must change nothing.
    return JsonResponse({"result": 0, "errmsg": "OK"})
