"""Property-based fuzzing of the vendors' receipt callbacks (/callbacks/push/<vendor>/<key>), as
tests/fuzz/test_protocols.py fuzzes the TPNS and SDK endpoints: each vendor's real receipt
body, spoilt by Hypothesis at its known paths (or replaced whole, or not JSON at all), posted
at the app's real receipt address. It must hold that the answer is never a 5xx, a refusal is
our JSON error (``errno``/``errmsg``), and a refusal wrote nothing."""

from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import given

from push import channels, fanout
from push.models import Push
from tests.fuzz.test_protocols import FUZZ, Outcome, exercise, report, requests
from tests.push.conftest import add_device

PUSH_ID = "{push_id}"  # replaced by the world's push id
TOKENS = {
    "huawei": "hw-fuzz-token-1",
    "xiaomi": "xm-fuzz-regid-1",
    "oppo": "OPPO_CN_fuzz1",
    "vivo": "16120000000000000001",
    "meizu": "ULY6c0ZnZjNlf0ZlfAR9Y0F4",
}
CREDENTIALS = {
    "huawei": {"app_id": "10440001", "client_id": "10440001", "client_secret": "s"},
    "xiaomi": {"package_name": "com.example.demo", "region": "china", "app_secret": "s"},
    "oppo": {"app_id": "30001", "app_key": "k", "master_secret": "s"},
    "vivo": {"app_id": "10001", "app_key": "k", "app_secret": "s", "package_name": ""},
    "meizu": {"app_id": "110001", "app_secret": "s", "receipt_token": ""},
}
# Each vendor's receipt as it posts it (the shapes of push.channels.<vendor>.parse_receipts),
# with the paths Hypothesis spoils; ``form``: the JSON travels in that form field.
TEMPLATES = {
    "huawei": {
        "body": {
            "statuses": [
                {
                    "biTag": PUSH_ID,
                    "appid": "10440001",
                    "token": TOKENS["huawei"],
                    "status": 0,
                    "timestamp": 1796112000000,
                    "requestId": "r1",
                }
            ]
        },
        "paths": [
            ("statuses",),
            ("statuses", 0),
            ("statuses", 0, "biTag"),
            ("statuses", 0, "token"),
            ("statuses", 0, "status"),
            ("statuses", 0, "timestamp"),
        ],
    },
    "xiaomi": {
        "form": "data",
        "body": {
            "scm-1": {
                "param": PUSH_ID,
                "type": 1,
                "targets": TOKENS["xiaomi"],
                "jobkey": "j",
                "barStatus": "Enable",
                "timestamp": 1796112000000,
            }
        },
        "paths": [
            ("scm-1",),
            ("scm-1", "param"),
            ("scm-1", "type"),
            ("scm-1", "targets"),
            ("scm-1", "timestamp"),
        ],
    },
    "oppo": {
        "body": [
            {
                "messageId": "m1",
                "appId": "30001",
                "taskId": "t1",
                "registrationIds": TOKENS["oppo"],
                "eventTime": "1796112000000",
                "param": PUSH_ID,
                "eventType": "push_arrive",
            }
        ],
        "paths": [
            (0,),
            (0, "registrationIds"),
            (0, "eventTime"),
            (0, "param"),
            (0, "eventType"),
            (0, "appId"),
        ],
    },
    "vivo": {
        "body": {"1234": {"param": PUSH_ID, "targets": TOKENS["vivo"]}},
        "paths": [("1234",), ("1234", "param"), ("1234", "targets")],
    },
    "meizu": {
        "form": "cb",
        "body": {"m1-1": {"param": PUSH_ID, "type": 1, "targets": [TOKENS["meizu"]]}},
        "paths": [("m1-1",), ("m1-1", "param"), ("m1-1", "type"), ("m1-1", "targets")],
    },
}


def _filled(value, push_id: str):
    if value == PUSH_ID:
        return push_id
    if isinstance(value, dict):
        return {k: _filled(v, push_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, push_id) for v in value]
    return value


def refused(response, answer) -> bool:
    return response.status_code >= 400


def shaped(response, answer) -> bool:
    if response.status_code >= 400:
        return isinstance(answer, dict) and {"errno", "errmsg"} <= answer.keys()
    return response.status_code == 200


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_receipt_callbacks_never_fail_and_refusals_write_nothing(kind, app, tally):
    credentials = channels.store_credentials(app, kind, CREDENTIALS[kind])
    add_device(app, "tok-1", channel=kind, channel_token=TOKENS[kind], phone="+8613711110001")
    push = fanout.accept(
        Push(
            application=app,
            audience_type="token_list",
            audience={"token_list": ["tok-1"]},
            message_type="notify",
            title="t",
            content="c",
        )
    )
    template = TEMPLATES[kind]
    templates = [{**template, "body": _filled(template["body"], str(push.pk))}]
    url = f"/callbacks/push/{kind}/{credentials.receipt_key()}"
    client = Client(raise_request_exception=False)
    outcome = Outcome(f"POST /callbacks/push/{kind}")

    @FUZZ
    @given(requests(templates))
    def run(request):
        raw, description = request
        if field := template.get("form"):
            body = urlencode({field: raw}, encoding="utf-8", errors="surrogatepass")
            content_type = "application/x-www-form-urlencoded"
        else:
            body, content_type = raw.encode("utf-8", "surrogatepass"), "application/json"

        def send():
            return client.post(url, body, content_type=content_type)

        exercise(tally, outcome, description, send, refused, shaped)

    run()
    report(outcome)
