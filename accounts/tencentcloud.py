"""The Tencent Cloud SMS client, built from settings and an account's credentials.

One place knows how to point the official SDK at ``TENCENTCLOUD_SMS_ENDPOINT`` (the real
service, or a loopback server speaking API 3.0 in tests and staging) and which region to sign for.
"""

import json
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
    "build_request",
]

# Codes the SDK uses for failures before a response from Tencent was read.
NETWORK_ERROR_CODES = frozenset({"ClientNetworkError", "ServerNetworkError"})


def is_network_error(exc: TencentCloudSDKException) -> bool:
    return exc.get_code() in NETWORK_ERROR_CODES


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
