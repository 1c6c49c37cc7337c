"""The Tencent Cloud fake must behave like the real API for the real SDK (no Django needed)."""

import http.client
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from tests.fakes.tencentcloud import FakeTencentCloud, TencentCloudError, tc3_signature

SECRET_ID = "AKIDfaketest0000000000000000000000"
SECRET_KEY = "fake-secret-key-0000000000000000"
# Proxy variables are cleared for every test by the autouse fixture in tests/conftest.py.


@pytest.fixture
def cloud():
    with FakeTencentCloud(credentials={SECRET_ID: SECRET_KEY}) as fake:
        yield fake


def sms_client(cloud, secret_id=SECRET_ID, secret_key=SECRET_KEY, *, timeout=5):
    http_profile = HttpProfile(endpoint=cloud.host, protocol="http", reqTimeout=timeout)
    return SmsClient(
        Credential(secret_id, secret_key), "ap-guangzhou", ClientProfile(httpProfile=http_profile)
    )


def sign_list(client):
    request = models.DescribeSmsSignListRequest()
    request.International = 0
    request.Limit = 10
    request.Offset = 0
    return client.DescribeSmsSignList(request)


def send_sms(client, numbers, session_context="push:42"):
    request = models.SendSmsRequest()
    request.PhoneNumberSet = numbers
    request.SmsSdkAppId = "1400006666"
    request.TemplateId = "449739"
    request.SignName = "腾讯云"
    request.TemplateParamSet = ["1234", "5"]
    request.SessionContext = session_context
    return client.SendSms(request)


def sdk_error(call, *args):
    with pytest.raises(TencentCloudSDKException) as info:
        call(*args)
    return info.value


def raw_post(cloud, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=5)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/json"
        return json.loads(response.read())["Response"]
    finally:
        conn.close()


def signed_headers(cloud, body, *, action="SendSms", version="2021-01-11"):
    timestamp = int(time.time())
    headers = {"content-type": "application/json", "host": cloud.host}
    signature = tc3_signature(
        SECRET_KEY,
        method="POST",
        uri="/",
        query="",
        headers=headers,
        signed_headers=["content-type", "host"],
        body=body,
        timestamp=timestamp,
        service="sms",
    )
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    return {
        **headers,
        "x-tc-action": action,
        "x-tc-version": version,
        "x-tc-timestamp": str(timestamp),
        "authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/sms/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}",
    }


def test_tc3_signature_matches_official_vector():
    signature = tc3_signature(
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        method="GET",
        uri="/",
        query="Limit=10&Offset=0",
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "host": "cvm.tencentcloudapi.com",
        },
        signed_headers=["content-type", "host"],
        body=b"",
        timestamp=1539084154,
        service="cvm",
    )
    assert signature == "5da7a33f6993f0614b047e5df4582db9e9bf4672ba50567dba16c6ccf174c474"


def test_sdk_describe_sign_list(cloud):
    response = sign_list(sms_client(cloud))

    assert response.DescribeSignListStatusSet == []
    assert re.fullmatch(r"[0-9a-f-]{36}", response.RequestId)
    [request] = cloud.requests
    assert (request.action, request.version, request.region) == (
        "DescribeSmsSignList",
        "2021-01-11",
        "ap-guangzhou",
    )
    assert request.secret_id == SECRET_ID
    assert request.signature_valid
    assert request.params == {"International": 0, "Limit": 10, "Offset": 0}
    assert request.request_id == response.RequestId


def test_sdk_send_sms(cloud):
    response = send_sms(sms_client(cloud), ["+8613711112222", "+8613733334444"])

    statuses = response.SendStatusSet
    assert [s.PhoneNumber for s in statuses] == ["+8613711112222", "+8613733334444"]
    assert [s.IsoCode for s in statuses] == ["CN", "CN"]
    assert {(s.Code, s.Message, s.Fee, s.SessionContext) for s in statuses} == {
        ("Ok", "send success", 1, "push:42")
    }
    assert all(re.fullmatch(r"2640:\d+", s.SerialNo) for s in statuses)
    assert statuses[0].SerialNo != statuses[1].SerialNo
    [request] = cloud.calls("SendSms")
    assert request.signature_valid and request.region == "ap-guangzhou"
    assert request.params == {
        "PhoneNumberSet": ["+8613711112222", "+8613733334444"],
        "SmsSdkAppId": "1400006666",
        "TemplateId": "449739",
        "SignName": "腾讯云",
        "TemplateParamSet": ["1234", "5"],
        "SessionContext": "push:42",
    }


def test_send_sms_mixing_mainland_and_international_is_refused(cloud):
    error = sdk_error(send_sms, sms_client(cloud), ["+8613711112222", "+14155550100"])

    assert error.code == "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber"
    [request] = cloud.calls("SendSms")
    assert error.requestId == request.request_id


def test_send_sms_international_iso_codes_and_no_sign_name_needed(cloud):
    numbers = ["+14155550100", "+85291234567", "+447700900123", "+6591234567", "+99912345678"]
    request = models.SendSmsRequest()
    request.PhoneNumberSet = numbers
    request.SmsSdkAppId = "1400006666"
    request.TemplateId = "449740"
    response = sms_client(cloud).SendSms(request)

    statuses = response.SendStatusSet
    assert [s.PhoneNumber for s in statuses] == numbers
    assert [s.IsoCode for s in statuses] == ["US", "HK", "GB", "SG", "DEF"]
    assert {s.Code for s in statuses} == {"Ok"}


@pytest.mark.parametrize(
    ("missing", "numbers", "code"),
    [
        ("SmsSdkAppId", ["+8613711112222"], "MissingParameter"),
        ("TemplateId", ["+14155550100"], "MissingParameter"),
        ("SignName", ["+8613711112222"], "FailedOperation.SignatureIncorrectOrUnapproved"),
    ],
)
def test_send_sms_without_a_required_parameter_is_refused(cloud, missing, numbers, code):
    request = models.SendSmsRequest()
    request.PhoneNumberSet = numbers
    request.SmsSdkAppId = "1400006666"
    request.TemplateId = "449739"
    request.SignName = "腾讯云"
    setattr(request, missing, None)  # None is left out of the request
    error = sdk_error(sms_client(cloud).SendSms, request)

    assert error.code == code
    [received] = cloud.calls("SendSms")
    assert missing not in received.params


def test_send_sms_over_200_numbers(cloud):
    numbers = [f"+861371111{i:04d}" for i in range(201)]
    error = sdk_error(send_sms, sms_client(cloud), numbers)
    assert error.code == "LimitExceeded.PhoneNumberCountLimit"


@pytest.mark.parametrize(
    ("secret_id", "secret_key", "code"),
    [
        (SECRET_ID, "wrong-key", "AuthFailure.SignatureFailure"),
        ("AKIDunknown", SECRET_KEY, "AuthFailure.SecretIdNotFound"),
    ],
)
def test_bad_credentials_are_refused(cloud, secret_id, secret_key, code):
    error = sdk_error(send_sms, sms_client(cloud, secret_id, secret_key), ["+8613711112222"])

    assert error.code == code
    [request] = cloud.requests
    assert error.requestId == request.request_id
    assert not request.signature_valid


def test_clock_skew_is_refused():
    with FakeTencentCloud({SECRET_ID: SECRET_KEY}, clock=lambda: time.time() + 1000) as cloud:
        error = sdk_error(sign_list, sms_client(cloud))

    assert error.code == "AuthFailure.SignatureExpire"


def test_handler_error_surfaces_in_sdk(cloud):
    def refuse(params, request):
        raise TencentCloudError("FailedOperation.InsufficientBalanceInSmsPackage", "no balance")

    cloud.on("SendSms", refuse)
    error = sdk_error(send_sms, sms_client(cloud), ["+8613711112222"])

    assert (error.code, error.message) == (
        "FailedOperation.InsufficientBalanceInSmsPackage",
        "no balance",
    )
    assert cloud.calls("SendSms")[0].signature_valid


def test_custom_handler_response(cloud):
    cloud.on("DescribeSmsSignList", lambda params, request: {"DescribeSignListStatusSet": []})
    cloud.on("SendSms", lambda params, request: {"SendStatusSet": [{"Code": "LimitExceeded.X"}]})
    response = send_sms(sms_client(cloud), ["+8613711112222"])
    assert response.SendStatusSet[0].Code == "LimitExceeded.X"


def test_delay_beyond_client_timeout_is_a_network_error(cloud):
    cloud.delay = 2
    started = time.monotonic()
    error = sdk_error(sign_list, sms_client(cloud, timeout=0.3))

    assert error.code == "ClientNetworkError"
    assert time.monotonic() - started < 1.5


def test_body_tampered_after_signing_is_refused(cloud):
    send_sms(sms_client(cloud), ["+8613711112222"])
    [signed] = cloud.requests
    headers = {
        name: value
        for name, value in signed.headers.items()
        if name == "content-type"
        or name == "host"
        or name == "authorization"
        or name[:5] == "x-tc-"
    }
    tampered = signed.body.replace(b"+8613711112222", b"+8613799998888")

    assert "Error" not in raw_post(cloud, headers, signed.body)  # replay as signed: accepted
    response = raw_post(cloud, headers, tampered)

    assert response["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert [r.signature_valid for r in cloud.requests] == [True, True, False]
    assert cloud.requests[-1].params["PhoneNumberSet"] == ["+8613799998888"]


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        ({"authorization": "Basic abc"}, b"{}", "AuthFailure.InvalidAuthorization"),
        ({"x-tc-version": "2019-07-11"}, b"{}", "NoSuchVersion"),
        ({"x-tc-action": "NoSuchThing"}, b"{}", "InvalidAction"),
        ({}, b"{not json", "InvalidParameter"),
    ],
)
def test_protocol_errors(cloud, headers, body, code):
    response = raw_post(cloud, {**signed_headers(cloud, body), **headers}, body)

    assert response["Error"]["Code"] == code
    assert re.fullmatch(r"[0-9a-f-]{36}", response["RequestId"])
    assert len(cloud.requests) == 1


@pytest.mark.parametrize(("days", "service"), [(-1, "sms"), (0, "cvm")])
def test_credential_scope_must_match(cloud, days, service):
    headers = signed_headers(cloud, b"{}", action="DescribeSmsSignList")
    date = time.strftime("%Y-%m-%d", time.gmtime(int(headers["x-tc-timestamp"]) + days * 86400))
    credential = f"Credential={SECRET_ID}/{date}/{service}/tc3_request"
    headers["authorization"] = re.sub(
        r"Credential=\S+,", credential + ",", headers["authorization"]
    )

    # Refused although the Signature itself is the one for the right scope.
    assert raw_post(cloud, headers, b"{}")["Error"]["Code"] == "AuthFailure.SignatureFailure"


def test_many_threads_and_clean_stop():
    threads_before = set(threading.enumerate())
    cloud = FakeTencentCloud({SECRET_ID: SECRET_KEY}).start()
    port = cloud.port

    def worker(i):
        client = sms_client(cloud)
        return [send_sms(client, [f"+86137{i:04d}{j:04d}"]).SendStatusSet[0] for j in range(10)]

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(worker, range(8)) for s in batch]
    cloud.stop()

    assert len({s.SerialNo for s in statuses if s.Code == "Ok"}) == 80
    assert len(cloud.requests) == 80 and all(r.signature_valid for r in cloud.requests)
    assert set(threading.enumerate()) <= threads_before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
