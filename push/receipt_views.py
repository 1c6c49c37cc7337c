"""The vendors' receipt callbacks: POST /callbacks/push/<channel>/<receipt key> (no session, no
CSRF). The key in the URL finds and vouches for one application's credentials on that
channel; the channel module parses the vendor's body (and checks the vendor's signature where
the vendor signs, Huawei's X-HUAWEI-CALLBACK-ID); ``push.receipts.record`` applies it. An
unknown key is a 404 and a wrongly signed body a 403, and neither changes anything.

The URL holds a secret: these answers are not logged with their path (Django logs every 4xx
response's path otherwise), and the key never is.
"""

import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import channels, receipts
from .channels.base import ReceiptError

log = logging.getLogger(__name__)

# A thousand Huawei statuses are ~300 KB; Django refuses bodies over
# DATA_UPLOAD_MAX_MEMORY_SIZE itself (logging the path), so larger ones are refused here first.
MAX_BODY_BYTES = 2 * 1024 * 1024


def _refusal(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"errno": status, "errmsg": message}, status=status)
    response._has_been_logged = True  # django.request would log the path, key included
    return response


@csrf_exempt
@require_POST
def vendor_receipts(request, kind, key):
    credentials = receipts.credentials_for(kind, key)
    if credentials is None:
        return _refusal(404, "unknown receipt address")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return _refusal(413, f"a receipt batch is at most {MAX_BODY_BYTES} bytes")
    module = channels.module(kind)
    try:
        parsed = module.parse_receipts(
            request.body,
            content_type=request.content_type or "",
            headers=request.headers,
            config=credentials.config(),
        )
    except ReceiptError as exc:
        log.warning(
            "%s receipts for application %s refused: %s",
            kind,
            credentials.application_id,
            exc,
        )
        return _refusal(403 if exc.forbidden else 400, str(exc))
    counts = receipts.record(credentials, parsed)
    log.info("%s receipts for application %s: %s", kind, credentials.application_id, counts)
    status, content_type, body = module.receipt_reply(len(parsed))
    return HttpResponse(body, status=status, content_type=content_type)
