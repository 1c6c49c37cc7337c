"""The Tencent Cloud SMS client, built from settings and an account's credentials.

One place knows how to point the official SDK at ``TENCENTCLOUD_SMS_ENDPOINT`` (the real
service, or a loopback server speaking API 3.0 in tests and staging) and which region to sign for.
"""

import json
import logging
from urllib.parse import urlsplit

from django.conf import settings
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client

__all__ = [
    "TencentCloudSDKException",
    "models",
    "sms_client_for",
    "is_network_error",
    "network_failure",
    "build_request",
]

log = logging.getLogger(__name__)

# Codes the SDK uses for failures before a response from Tencent was read.
NETWORK_ERROR_CODES = frozenset({"ClientNetworkError", "ServerNetworkError"})

# What went wrong, from the words urllib3 / the OS put in the SDK's message (first match).
NETWORK_FAILURES = [
    (("timed out", "timeout"), "the connection timed out"),
    (("refused",), "connection refused"),
    (
        ("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo"),
        "its address could not be resolved",
    ),
    (("ssl", "certificate"), "the secure (TLS) connection failed"),
    (("reset by peer", "remotedisconnected", "connection aborted"), "the connection was cut"),
    (("unreachable", "no route"), "the network is unreachable"),
]


def is_network_error(exc: TencentCloudSDKException) -> bool:
    return exc.get_code() in NETWORK_ERROR_CODES


def network_failure(exc: TencentCloudSDKException) -> str:
    """A sentence a person understands for a call that got no usable answer from Tencent
    Cloud (``is_network_error``). The SDK's own text (urllib3's, with pool and object
    addresses) goes to the log for the operator, not to the page."""
    raw = exc.get_message()
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    log.warning("Tencent Cloud unreachable: %s: %s", exc.get_code(), text[:500])
    if exc.get_code() == "ServerNetworkError":
        why = "it answered with an HTTP error instead of an API reply"
    else:
        lowered = text.lower()
        why = next(
            (why for words, why in NETWORK_FAILURES if any(w in lowered for w in words)),
            "the network failed",
        )
    return f"Could not reach Tencent Cloud ({why}); check the network and try again."


def build_request(model_class, params: dict):
    """An SDK request object (e.g. ``models.SendSmsRequest``) filled from a dict of parameters."""
    request = model_class()
    request.from_json_string(json.dumps(params))
    return request


def sms_client_for(secret_id: str, secret_key: str):
    endpoint = urlsplit(settings.TENCENTCLOUD_SMS_ENDPOINT)
    http = HttpProfile(
        endpoint=endpoint.netloc,
        protocol=endpoint.scheme,
        reqMethod="POST",
        reqTimeout=settings.TENCENTCLOUD_TIMEOUT,
    )
    return sms_client.SmsClient(
        credential.Credential(secret_id, secret_key),
        settings.TENCENTCLOUD_SMS_REGION,
        ClientProfile(httpProfile=http),
    )
