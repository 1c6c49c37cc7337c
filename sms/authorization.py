"""Calling Tencent Cloud SMS with an account's key pair, and checking that the pair works.

``accounts`` keeps the key pair (encrypted at rest) and knows nothing of SMS; this module is
where the pair becomes an SDK client (``client``) and where it is checked (``confirm``).
"""

from django.utils import timezone

from accounts.models import TencentCloudAuthorization

from .tencentcloud import (
    TencentCloudSDKException,
    build_request,
    is_network_error,
    models,
    network_failure,
    sms_client_for,
)

# Tencent error codes that mean the key pair itself was refused.
REFUSAL_PREFIXES = ("AuthFailure", "UnauthorizedOperation")


def client(auth: TencentCloudAuthorization):
    """The Tencent Cloud SMS SDK client that signs with this key pair."""
    return sms_client_for(auth.secret_id, auth.secret_key())


def confirm(auth: TencentCloudAuthorization, now=None) -> bool:
    """Check the key pair by calling Tencent Cloud SMS (``DescribeSmsSignList``); record and
    return the verdict.

    A refusal (``AuthFailure.*``, ``UnauthorizedOperation.*``) keeps Tencent's error code and
    message. Any other API error still proves Tencent accepted the signature, so the pair is
    confirmed with the error kept as a note (an individual account, for instance, may not list
    signatures but can send). A network failure changes nothing but the error shown (a sentence
    saying what failed, not the HTTP library's text), because it says nothing about the pair.
    """
    request = build_request(
        models.DescribeSmsSignListRequest, {"International": 0, "Limit": 1, "Offset": 0}
    )
    now = now or timezone.now()
    Status = TencentCloudAuthorization.Status
    try:
        client(auth).DescribeSmsSignList(request)
    except TencentCloudSDKException as exc:
        code = exc.get_code() or ""
        auth.error_code, auth.error_message = code, exc.get_message() or ""
        if is_network_error(exc):
            auth.error_message = network_failure(exc)
        elif code.startswith(REFUSAL_PREFIXES):
            auth.status, auth.checked_at = Status.REFUSED, now
        else:
            auth.status, auth.checked_at = Status.CONFIRMED, now
    else:
        auth.status, auth.checked_at = Status.CONFIRMED, now
        auth.error_code = auth.error_message = ""
    auth.save(update_fields=["status", "checked_at", "error_code", "error_message"])
    return auth.is_confirmed
