"""SMS transports: the real Tencent Cloud SDK against a loopback fake that verifies TC3 signatures.

The rule under test above all: a number is FAILED only when it certainly was not sent; when the
request may have reached Tencent without a readable answer it is UNKNOWN, and nothing is re-sent.
"""

import logging
import pickle
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sms.transports import (
    LOCAL_OUTBOX,
    FailureKind,
    LocalTransport,
    Outcome,
    OutgoingBatch,
    ProviderError,
    TencentTransport,
    classify,
    clear_local_outbox,
    segments,
)
from tests.conftest import SECRET_ID, SECRET_KEY
from tests.fakes.tencentcloud import TencentCloudError


@pytest.fixture
def bad_gateway(settings):
    """A loopback server answering every request with HTTP 502; yields the bodies it received."""
    received = []

    class BadGateway(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            body = b"<html><h1>502 Bad Gateway</h1></html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), BadGateway)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    settings.TENCENTCLOUD_SMS_ENDPOINT = f"http://127.0.0.1:{server.server_address[1]}"
    settings.TENCENTCLOUD_TIMEOUT = 2
    yield received
    server.shutdown()
    server.server_close()
    thread.join()


def mainland(count: int) -> tuple[str, ...]:
    return tuple(f"+86137{i:08d}" for i in range(count))


def batch(numbers, **fields) -> OutgoingBatch:
    defaults = dict(
        sdk_app_id="1400006666",
        template_id="449739",
        sign_name="腾讯云",
        params=("1234", "5"),
        region="mainland",
        session_context="push:42",
    )
    return OutgoingBatch(numbers=tuple(numbers), **{**defaults, **fields})


def send(b: OutgoingBatch, secret_key: str = SECRET_KEY):
    return TencentTransport(SECRET_ID, secret_key).send(b)


def serial_for(number: str) -> str:
    return f"2640:{number.lstrip('+')}"


def status(number: str, code: str = "Ok", message: str = "send success", **extra) -> dict:
    return {
        "SerialNo": serial_for(number) if code == "Ok" else "",
        "PhoneNumber": number,
        "Fee": 1 if code == "Ok" else 0,
        "SessionContext": "",
        "Code": code,
        "Message": message,
        "IsoCode": "CN" if number.startswith("+86") else "US",
        **extra,
    }


def all_ok(params, request):
    return {"SendStatusSet": [status(n) for n in params["PhoneNumberSet"]]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- splitting and the request ---------------------------------------------------------------


def in_number_order(calls, numbers):
    """The requests of a batch go out side by side: put them in the order of their numbers."""
    return sorted(calls, key=lambda c: numbers.index(c.params["PhoneNumberSet"][0]))


def test_450_mainland_numbers_go_out_as_three_signed_requests_of_200_200_50_in_order(cloud):
    cloud.on("SendSms", all_ok)
    numbers = mainland(450)

    results = send(batch(numbers))

    calls = in_number_order(cloud.calls("SendSms"), list(numbers))
    assert [len(c.params["PhoneNumberSet"]) for c in calls] == [200, 200, 50]
    assert [n for c in calls for n in c.params["PhoneNumberSet"]] == list(numbers)
    assert all(c.signature_valid and c.secret_id == SECRET_ID for c in calls)
    assert all((c.version, c.region) == ("2021-01-11", "ap-guangzhou") for c in calls)
    for call, chunk in zip(calls, (numbers[:200], numbers[200:400], numbers[400:]), strict=True):
        assert list(call.params.items()) == [
            ("PhoneNumberSet", list(chunk)),
            ("SmsSdkAppId", "1400006666"),
            ("TemplateId", "449739"),
            ("SignName", "腾讯云"),
            ("TemplateParamSet", ["1234", "5"]),
            ("SessionContext", "push:42"),
        ]
    assert [r.number for r in results] == list(numbers)
    assert {r.outcome for r in results} == {Outcome.SENT}
    assert [r.serial_no for r in results] == [serial_for(n) for n in numbers]
    assert [r.request_id for r in results] == (
        [calls[0].request_id] * 200 + [calls[1].request_id] * 200 + [calls[2].request_id] * 50
    )
    assert all((r.code, r.fee, r.iso_code, r.error) == ("Ok", 1, "CN", None) for r in results)


def test_a_global_batch_leaves_out_an_empty_sign_name_and_session_context(cloud):
    cloud.on("SendSms", all_ok)
    numbers = ("+14155550100", "+447700900123")

    results = send(batch(numbers, region="global", sign_name="", session_context=""))

    [call] = cloud.calls("SendSms")
    assert call.params == {
        "PhoneNumberSet": list(numbers),
        "SmsSdkAppId": "1400006666",
        "TemplateId": "449739",
        "TemplateParamSet": ["1234", "5"],
    }
    assert [(r.outcome, r.iso_code) for r in results] == [(Outcome.SENT, "US")] * 2


@pytest.mark.parametrize(
    ("numbers", "region"),
    [
        (("+8613711112222", "+14155550100"), "mainland"),
        (("+14155550100", "+8613711112222"), "global"),
        (("+8613711112222", "+14155550100"), "global"),
        (("+14155550100",), "mainland"),
        (("+8613711112222",), "global"),
        (("13711112222",), "mainland"),  # not E.164: Tencent would take it for +86
        ((), "mainland"),
        (("+8613711112222",), "china"),
    ],
)
def test_a_batch_breaking_the_region_contract_raises_before_any_request(cloud, numbers, region):
    with pytest.raises(ValueError):
        send(batch(numbers, region=region))
    with pytest.raises(ValueError):
        LocalTransport().send(batch(numbers, region=region))

    assert cloud.calls("SendSms") == []


# -- refusals: certainly not sent ------------------------------------------------------------


def test_a_request_level_error_fails_only_the_numbers_of_that_request(cloud):
    def second_request_refused(params, request):
        if params["PhoneNumberSet"][0] == numbers[200]:
            raise TencentCloudError(
                "FailedOperation.InsufficientBalanceInSmsPackage", "package balance exhausted"
            )
        return all_ok(params, request)

    cloud.on("SendSms", second_request_refused)
    numbers = mainland(250)

    results = send(batch(numbers))

    first, second = in_number_order(cloud.calls("SendSms"), list(numbers))
    assert [r.outcome for r in results[:200]] == [Outcome.SENT] * 200
    assert [r.request_id for r in results[:200]] == [first.request_id] * 200
    for result in results[200:]:
        assert result.outcome == Outcome.FAILED
        assert result.code == "FailedOperation.InsufficientBalanceInSmsPackage"
        assert result.message == "package balance exhausted"
        assert result.request_id == second.request_id
        assert result.error.kind == FailureKind.PERMANENT
        assert (result.error.code, result.error.request_id) == (result.code, second.request_id)
        assert (result.serial_no, result.fee) == ("", 0)


def test_per_number_codes_become_sent_rate_limited_and_permanent_failures(cloud):
    ok, limited, wrong = "+8613711112222", "+8613711113333", "+8613711114444"
    codes = {
        ok: "Ok",
        limited: "LimitExceeded.PhoneNumberDailyLimit",
        wrong: "InvalidParameterValue.IncorrectPhoneNumber",
    }
    cloud.on(
        "SendSms",
        lambda params, request: {
            "SendStatusSet": [status(n, codes[n], f"{codes[n]} text") for n in codes]
        },
    )

    results = send(batch([ok, limited, wrong]))

    [call] = cloud.calls("SendSms")
    assert [(r.number, r.outcome, r.code) for r in results] == [
        (ok, Outcome.SENT, "Ok"),
        (limited, Outcome.FAILED, "LimitExceeded.PhoneNumberDailyLimit"),
        (wrong, Outcome.FAILED, "InvalidParameterValue.IncorrectPhoneNumber"),
    ]
    assert results[0].error is None and results[0].serial_no == serial_for(ok)
    assert results[1].error.kind == FailureKind.RATE_LIMITED
    assert results[2].error.kind == FailureKind.PERMANENT
    assert results[2].message == "InvalidParameterValue.IncorrectPhoneNumber text"
    assert {r.request_id for r in results} == {call.request_id}


def test_request_limit_exceeded_is_a_retryable_failure(cloud):
    def throttled(params, request):
        raise TencentCloudError("RequestLimitExceeded", "Your current request times equals to")

    cloud.on("SendSms", throttled)

    results = send(batch(mainland(3)))

    assert [(r.outcome, r.code, r.error.kind) for r in results] == [
        (Outcome.FAILED, "RequestLimitExceeded", FailureKind.RETRYABLE)
    ] * 3
    assert len(cloud.calls("SendSms")) == 1


@pytest.mark.parametrize("code", ["InternalError.Timeout", "InternalError.SendAndRecvFail"])
def test_a_timeout_inside_tencent_leaves_every_number_unknown(cloud, code):
    def timed_out(params, request):
        raise TencentCloudError(code, "downstream timeout")

    cloud.on("SendSms", timed_out)

    results = send(batch(mainland(2)))

    assert [(r.outcome, r.code) for r in results] == [(Outcome.UNKNOWN, code)] * 2
    assert all(r.request_id for r in results)


def test_a_wrong_secret_key_fails_permanently_and_never_reaches_logs_or_results(cloud, caplog):
    wrong_key = "WrongKeyWrongKeyWrongKeyEXAMPLE1"
    caplog.set_level(logging.DEBUG)

    results = send(batch(mainland(2)), secret_key=wrong_key)

    assert [(r.outcome, r.code, r.error.kind) for r in results] == [
        (Outcome.FAILED, "AuthFailure.SignatureFailure", FailureKind.PERMANENT)
    ] * 2
    assert caplog.records  # the failure was logged…
    assert wrong_key not in caplog.text  # …without the key
    assert wrong_key not in repr(results)


def test_an_empty_secret_key_fails_every_number_without_a_request(cloud):
    results = send(batch(mainland(2)), secret_key="")

    assert [(r.outcome, r.code, r.error.kind) for r in results] == [
        (Outcome.FAILED, "InvalidCredential", FailureKind.PERMANENT)
    ] * 2
    assert cloud.calls("SendSms") == []


def test_a_refused_connection_is_a_retryable_failure_because_nothing_left(settings):
    settings.TENCENTCLOUD_SMS_ENDPOINT = f"http://127.0.0.1:{closed_port()}"
    settings.TENCENTCLOUD_TIMEOUT = 2

    results = send(batch(mainland(250)))

    assert {(r.outcome, r.code, r.error.kind) for r in results} == {
        (Outcome.FAILED, "ClientNetworkError", FailureKind.RETRYABLE)
    }
    assert len(results) == 250
    assert "Connection refused" in results[0].message


# -- perhaps sent: UNKNOWN, never re-sent ----------------------------------------------------


def test_a_timeout_leaves_every_number_unknown_and_nothing_is_sent_twice(cloud, settings):
    settings.TENCENTCLOUD_TIMEOUT = 0.3
    cloud.delay = 2
    numbers = mainland(250)

    results = send(batch(numbers))

    assert [r.number for r in results] == list(numbers)
    assert {(r.outcome, r.code) for r in results} == {(Outcome.UNKNOWN, "ClientNetworkError")}
    assert all(r.error.code == "ClientNetworkError" and r.serial_no == "" for r in results)
    # One request per chunk: the second chunk was still tried, neither was repeated.
    assert sorted(len(c.params["PhoneNumberSet"]) for c in cloud.calls("SendSms")) == [50, 200]


def test_an_http_error_status_leaves_every_number_unknown(bad_gateway):
    results = send(batch(mainland(3)))

    assert {(r.outcome, r.code) for r in results} == {(Outcome.UNKNOWN, "ServerNetworkError")}
    assert "502 Bad Gateway" in results[0].message
    assert len(bad_gateway) == 1


def test_a_response_without_send_status_set_leaves_every_number_unknown(cloud):
    # What the SDK makes of an Error body served as "application/json; charset=utf-8".
    cloud.on("SendSms", lambda params, request: {})

    results = send(batch(mainland(3)))

    [call] = cloud.calls("SendSms")
    assert {(r.outcome, r.code, r.request_id) for r in results} == {
        (Outcome.UNKNOWN, "MissingStatus", call.request_id)
    }


def test_a_send_status_set_the_sdk_cannot_parse_leaves_every_number_unknown(cloud):
    cloud.on("SendSms", lambda params, request: {"SendStatusSet": "garbage"})

    results = send(batch(mainland(3)))

    assert {r.outcome for r in results} == {Outcome.UNKNOWN}
    assert all(r.error.kind == FailureKind.RETRYABLE for r in results)
    assert len(cloud.calls("SendSms")) == 1


# -- matching statuses to numbers ------------------------------------------------------------


def test_statuses_are_matched_by_phone_number_not_by_position(cloud):
    cloud.on(
        "SendSms",
        lambda params, request: {
            "SendStatusSet": [status(n) for n in reversed(params["PhoneNumberSet"])]
        },
    )
    numbers = mainland(5)

    results = send(batch(numbers))

    assert [(r.number, r.serial_no) for r in results] == [(n, serial_for(n)) for n in numbers]


def test_a_status_with_an_unknown_spelling_is_taken_by_position(cloud):
    numbers = ("+8613711112222", "+8613711113333")
    cloud.on(
        "SendSms",
        lambda params, request: {
            "SendStatusSet": [status("8613711112222"), status("+8613711113333")]
        },
    )

    results = send(batch(numbers))

    assert [(r.outcome, r.serial_no) for r in results] == [
        (Outcome.SENT, serial_for("8613711112222")),
        (Outcome.SENT, serial_for("+8613711113333")),
    ]


def test_a_number_missing_from_send_status_set_or_without_a_code_is_unknown(cloud):
    numbers = ("+8613711112222", "+8613711113333", "+8613711114444", "+8613711115555")
    cloud.on(
        "SendSms",
        lambda params, request: {
            "SendStatusSet": [
                status(numbers[2]),
                status(numbers[0]),
                {**status(numbers[3]), "Code": None},
            ]
        },
    )

    results = send(batch(numbers))

    assert [(r.outcome, r.code) for r in results] == [
        (Outcome.SENT, "Ok"),
        (Outcome.UNKNOWN, "MissingStatus"),
        (Outcome.SENT, "Ok"),
        (Outcome.UNKNOWN, "MissingStatus"),
    ]
    assert results[1].error.code == "MissingStatus"


# -- classification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("LimitExceeded.PhoneNumberThirtySecondLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.PhoneNumberOneHourLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.PhoneNumberDailyLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.PhoneNumberSameContentDailyLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.DeliveryFrequencyLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.AppDailyLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.AppMainlandChinaDailyLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.AppGlobalDailyLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.AppCountryOrRegionDailyLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.DailyLimit", FailureKind.RATE_LIMITED),
        ("LimitExceeded.GlobalSmsSendingRateLimit", FailureKind.RETRYABLE),
        ("RequestLimitExceeded", FailureKind.RETRYABLE),
        ("RequestLimitExceeded.UinLimitExceeded", FailureKind.RETRYABLE),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", FailureKind.RETRYABLE),
        ("InternalError", FailureKind.RETRYABLE),
        ("InternalError.Timeout", FailureKind.RETRYABLE),
        ("InternalError.SendAndRecvFail", FailureKind.RETRYABLE),
        ("FailedOperation.MarketingSendTimeConstraint", FailureKind.RETRYABLE),
        ("ClientNetworkError", FailureKind.RETRYABLE),
        ("ServerNetworkError", FailureKind.RETRYABLE),
        ("LimitExceeded.PhoneNumberCountLimit", FailureKind.PERMANENT),
        ("LimitExceeded.AppCountryOrRegionInBlacklist", FailureKind.PERMANENT),
        ("FailedOperation.InsufficientBalanceInSmsPackage", FailureKind.PERMANENT),
        ("FailedOperation.SignatureIncorrectOrUnapproved", FailureKind.PERMANENT),
        ("FailedOperation.TemplateIncorrectOrUnapproved", FailureKind.PERMANENT),
        ("FailedOperation.TemplateParamSetNotMatchApprovedTemplate", FailureKind.PERMANENT),
        ("FailedOperation.PhoneNumberInBlacklist", FailureKind.PERMANENT),
        ("FailedOperation.ContainSensitiveWord", FailureKind.PERMANENT),
        ("InvalidParameterValue.IncorrectPhoneNumber", FailureKind.PERMANENT),
        ("InvalidParameterValue.TemplateParameterFormatError", FailureKind.PERMANENT),
        ("MissingParameter.EmptyPhoneNumberSet", FailureKind.PERMANENT),
        ("UnauthorizedOperation.ServiceSuspendDueToArrears", FailureKind.PERMANENT),
        ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", FailureKind.PERMANENT),
        ("UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber", FailureKind.PERMANENT),
        ("AuthFailure.SignatureFailure", FailureKind.PERMANENT),
        ("AuthFailure.SecretIdNotFound", FailureKind.PERMANENT),
        ("SomethingNobodyDocumented", FailureKind.PERMANENT),
    ],
)
def test_classify_maps_documented_codes(code, kind):
    assert classify(code) == kind


def test_a_provider_error_defaults_its_kind_and_survives_pickling():
    error = ProviderError("LimitExceeded.DailyLimit", "daily limit", request_id="req-1")

    copy = pickle.loads(pickle.dumps(error))

    assert error.kind == FailureKind.RATE_LIMITED
    assert (copy.code, copy.message, copy.kind, copy.request_id) == (
        "LimitExceeded.DailyLimit",
        "daily limit",
        FailureKind.RATE_LIMITED,
        "req-1",
    )
    assert str(error) == "LimitExceeded.DailyLimit: daily limit"
    assert ProviderError("InternalError", kind=FailureKind.PERMANENT).kind == FailureKind.PERMANENT


# -- local transport -------------------------------------------------------------------------


def test_the_local_transport_sends_nothing_and_records_the_batch():
    clear_local_outbox()
    transport = LocalTransport()
    b = batch(mainland(3), content="【腾讯云】" + "x" * 70)

    results = transport.send(b)

    assert (transport.name, transport.simulated) == ("local", True)
    assert [(r.number, r.outcome, r.code, r.fee) for r in results] == [
        (n, Outcome.SENT, "Ok", 2) for n in b.numbers
    ]
    assert all(r.serial_no.startswith("local:") and len(r.serial_no) == 38 for r in results)
    assert len({r.serial_no for r in results}) == 3
    assert transport.outbox == [b]
    assert LOCAL_OUTBOX == [b]
    clear_local_outbox()
    assert LOCAL_OUTBOX == []


def test_the_local_transport_charges_one_part_without_content():
    [result] = LocalTransport().send(batch(mainland(1)))

    assert result.fee == 1


@pytest.mark.parametrize(
    ("length", "parts"), [(0, 1), (1, 1), (70, 1), (71, 2), (134, 2), (135, 3)]
)
def test_segments_bills_70_characters_as_one_part_and_longer_texts_by_67(length, parts):
    assert segments("短" * length) == parts
