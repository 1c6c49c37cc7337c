"""The TPNS parser's refusals in the reader's language on the console, in English on the API.

Every refusal of ``push.tpns.parse`` (and of ``submit``, which the composer also goes through)
is built from translatable words and their values (``TpnsError.words``): the API answers
``TpnsError.message``, the English, byte for byte as before; the composer shows
``TpnsError.for_people()``, the same words in the reader's language, starting with the same
field path. Walked here one bad body per raise site (the walk checks that it reaches every one),
in Chinese through the composer's ``_tpns_error`` and in English against the pinned message.
A device's invalid-token reason reads translated on its page, the vendor's word quoted.
"""

import ast
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client, RequestFactory
from django.utils import translation

from accounts.preferences import Preference
from lib.words import Words
from push import views
from push.forms import ComposeForm
from push.models import Device, Push
from push.tpns import TpnsError, parse, submit
from push.tpns.parse import overview, statistics, tags
from sms.models import SmsApplication
from tests.push.conftest import add_device, apns_device, configure
from tests.push.test_tpns_auth import tpns

CJK = re.compile(r"[\u4e00-\u9fff]")
NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 Beijing
TPNS = Path(__file__).resolve().parents[2] / "push" / "tpns"
# Where the composer's refusals are raised: every module of the parser, and submit.
RAISING_MODULES = [*sorted((TPNS / "parse").glob("*.py")), TPNS / "submit.py"]


def push_body(**changes) -> dict:
    body = {
        "audience_type": "all",
        "message_type": "notify",
        "message": {"title": "Approval", "content": "Expense report 42 waits for you"},
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def message(**changes) -> dict:
    return {"title": "Approval", "content": "Expense report 42 waits for you", **changes}


def sms_info(**changes) -> dict:
    info = {
        "delay_trigger_time": 600,
        "trigger_condition": 1,
        "sms_template_id": "449739",
        "sms_app_id": "1400006666",
        "sms_template_params": ["报销单 42", "明天"],
    }
    info.update(changes)
    return info


def rules(tag_type="xg_user_define") -> list:
    item = {"tags": ["vip"], "is_not": False, "tags_operator": "OR", "items_operator": "OR"}
    return [{"operator": "OR", "is_not": False, "tag_items": [{**item, "tag_type": tag_type}]}]


LONG_MESSAGE = {"title": "t", "content": "长" * 1350}  # under 4 KB as JSON; not with APNs's
MANY_TIMES = [f"{h:02d}:00:00" for h in range(12)]  # 12 a day for 90 days: over 1,000


# (id, what is parsed, its body, the API's English, byte for byte as before this change)
CASES = [
    # fields.py
    ("object", "android", push_body(message="x"), "message: must be an object"),
    ("required-string", "android", push_body(message={"content": "c"}), "message.title: required"),
    ("string", "android", push_body(message=message(title=5)), "message.title: must be a string"),
    (
        "max-length",
        "android",
        push_body(message=message(title="x" * 201)),
        "message.title: at most 200 characters",
    ),
    (
        "string-choices",
        "android",
        push_body(message_type="bogus"),
        "message_type: must be one of notify, message; got 'bogus'",
    ),
    (
        "required-integer",
        "android",
        push_body(resend_by_sms=True, sms_info={"trigger_condition": 1}),
        "sms_info.delay_trigger_time: required",
    ),
    ("boolean", "android", push_body(multi_pkg="yes"), "multi_pkg: must be true or false"),
    ("required-object", "android", push_body(message=None), "message: required"),
    (
        "required-array",
        "android",
        push_body(audience_type="token_list"),
        "token_list: required",
    ),
    ("array", "android", push_body(channel_rules="x"), "channel_rules: must be an array"),
    (
        "max-items",
        "android",
        push_body(channel_rules=[{"channel": "xg"}] * 10),
        "channel_rules: at most 9 items; got 10",
    ),
    (
        "strings",
        "android",
        push_body(audience_type="token_list", token_list=[5]),
        "token_list[0]: must be a string",
    ),
    (
        "operator",
        "android",
        push_body(audience_type="tag", tag_list={"tags": ["vip"], "op": "XOR"}),
        "tag_list.op: must be AND or OR; got 'XOR'",
    ),
    ("integer", "android", push_body(expire_time="x"), "expire_time: must be an integer"),
    (
        "integer-choices",
        "android",
        push_body(message=message(show_type=3)),
        "message.show_type: must be one of 1, 2; got 3",
    ),
    ("minimum", "android", push_body(expire_time=-1), "expire_time: must be at least 0"),
    ("maximum", "android", push_body(expire_time=10**9), "expire_time: must be at most 259200"),
    ("json-nul", "load", b'{"seq": "a\\u0000"}', "seq: must not contain NUL characters"),
    (
        "json-surrogate",
        "load",
        b'{"seq": "\\ud800"}',
        "seq: must be valid Unicode text (it holds a lone surrogate)",
    ),
    ("json-key-nul", "load", b'{"\\u0000": 1}', "body: keys must not contain NUL characters"),
    (
        "json-key-surrogate",
        "load",
        b'{"\\ud800": 1}',
        "body: keys must be valid Unicode text (it holds a lone surrogate)",
    ),
    ("json-invalid", "load", b"{", "the request body is not valid JSON"),
    (
        "json-deep",
        "load",
        b"[" * 100 + b"]" * 100,
        "the request body is refused: nested deeper than 64 levels",
    ),
    (
        "json-number",
        "load",
        b'{"seq": 1e400}',
        "the request body is refused: the number 1e400 is out of range",
    ),
    ("json-not-object", "load", b"[]", "the request body must be a JSON object"),
    ("idempotency-long", "idempotency", "k" * 101, "Idempotency-Key: at most 100 characters"),
    (
        "idempotency-printable",
        "idempotency",
        "k\u200bk",
        "Idempotency-Key: must be printable characters",
    ),
    # message.py
    (
        "message-size",
        "android",
        push_body(message=message(content="长" * 1400)),
        "message: at most 4096 bytes as JSON; got 4233",
    ),
    (
        "accept-time",
        "android",
        push_body(message=message(accept_time=[{"start": {"min": "0"}, "end": {}}])),
        "message.accept_time[0].start.hour: required",
    ),
    (
        "custom-content-json",
        "android",
        push_body(message=message(android={"custom_content": "{"})),
        "message.android.custom_content: must be a JSON object serialised to a string "
        "(not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1)))",
    ),
    (
        "custom-content-object",
        "android",
        push_body(message=message(android={"custom_content": "[1]"})),
        "message.android.custom_content: must be a JSON object serialised to a string",
    ),
    (
        "browser-url",
        "android",
        push_body(
            message=message(android={"action": {"action_type": 2, "browser": {"url": "ftp://x"}}})
        ),
        "message.android.action.browser.url: must be an http or https URL",
    ),
    (
        "ios-xg",
        "ios",
        push_body(environment="product", message=message(ios={"xg": 1})),
        "message.ios.xg: is reserved by TPNS",
    ),
    (
        "ios-alert",
        "ios",
        push_body(environment="product", message=message(ios={"aps": {"alert": 5}})),
        "message.ios.aps.alert: must be an object or a string",
    ),
    (
        "ios-sound",
        "ios",
        push_body(environment="product", message=message(ios={"aps": {"sound": 5}})),
        "message.ios.aps.sound: must be a string or an object",
    ),
    (
        "ios-content-available",
        "ios",
        push_body(environment="product", message=message(ios={"aps": {"content-available": 1}})),
        "message.ios.aps.content-available: content-available: 1 is for silent messages; it "
        'cannot go with message_type "notify"',
    ),
    # options.py
    (
        "send-time-list",
        "android",
        push_body(
            audience_type="token_list", token_list=["tok-a"], send_time="2026-06-02 12:00:00"
        ),
        "send_time: only all, tag and package pushes can be scheduled",
    ),
    (
        "send-time-format",
        "android",
        push_body(send_time="tomorrow"),
        "send_time: must be yyyy-MM-DD HH:MM:SS (Beijing time); got 'tomorrow'",
    ),
    (
        "send-time-ahead",
        "android",
        push_body(send_time="2026-12-01 12:00:00"),
        "send_time: at most 90 days ahead",
    ),
    (
        "loop-param-list",
        "android",
        push_body(audience_type="token_list", token_list=["tok-a"], loop_param={}),
        "loop_param: only all, tag and package pushes can loop",
    ),
    (
        "loop-times-list",
        "android",
        push_body(audience_type="token_list", token_list=["tok-a"], loop_times=2),
        "loop_times: only all, tag and package pushes can loop",
    ),
    (
        "loop-date-ahead",
        "android",
        push_body(
            loop_param={
                "startDate": "2026-06-02",
                "endDate": "2026-12-01",
                "loopType": 1,
                "loopDayIndexs": [0],
                "dayTimes": ["09:00:00"],
            }
        ),
        "loop_param.endDate: at most 90 days ahead",
    ),
    (
        "loop-times-ahead",
        "android",
        push_body(loop_times=15, loop_interval=14),
        "loop_times: the last push would be more than 90 days ahead",
    ),
    (
        "loop-nothing",
        "android",
        push_body(
            loop_param={
                "startDate": "2026-05-01",
                "endDate": "2026-05-02",
                "loopType": 1,
                "loopDayIndexs": [0],
                "dayTimes": ["09:00:00"],
            }
        ),
        "loop_param: names no moment after now: nothing would be sent",
    ),
    (
        "loop-too-many",
        "android",
        push_body(
            loop_param={
                "startDate": "2026-06-02",
                "endDate": "2026-08-29",
                "loopType": 1,
                "loopDayIndexs": [0],
                "dayTimes": MANY_TIMES,
            }
        ),
        "loop_param: names 1068 pushes; a loop is at most 1000",
    ),
    (
        "loop-date-format",
        "android",
        push_body(loop_param={"startDate": "June 2", "endDate": "2026-06-03"}),
        "loop_param.startDate: must be YYYY-MM-DD; got 'June 2'",
    ),
    (
        "loop-end-before-start",
        "android",
        push_body(loop_param={"startDate": "2026-06-03", "endDate": "2026-06-02"}),
        "loop_param.endDate: is before startDate",
    ),
    (
        "loop-day-time",
        "android",
        push_body(
            loop_param={
                "startDate": "2026-06-02",
                "endDate": "2026-06-03",
                "loopType": 1,
                "loopDayIndexs": [0],
                "dayTimes": ["9 am"],
            }
        ),
        "loop_param.dayTimes[0]: must be HH:MM:SS; got '9 am'",
    ),
    # audience.py
    (
        "account-blank",
        "android",
        push_body(audience_type="account", account_list=[" "]),
        "account_list[0]: must be 1 to 128 characters",
    ),
    (
        "package-unknown",
        "android",
        push_body(audience_type="package_token_push", upload_id=999999),
        "upload_id: package 999999 does not exist",
    ),
    (
        "tokens-unknown",
        "android",
        push_body(audience_type="token_list", token_list=["tok-a", *(f"x{i}" for i in range(12))]),
        "token_list: not a device of this app: 'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', "
        "'x8', 'x9' and 2 more (send ignore_invalid_token: 1 to skip invalid tokens)",
    ),
    (
        "tokens-unknown-and-pruned",
        "ios_apns",
        push_body(environment="product", audience_type="token_list", token_list=["dev-1", "x"]),
        "token_list: not a device of this app: 'x'; its push service refused the device's token "
        "(until the app registers again): 'dev-1' (send ignore_invalid_token: 1 to skip invalid "
        "tokens)",
    ),
    (
        "tokens-none-left",
        "android",
        push_body(audience_type="token_list", token_list=["x"], ignore_invalid_token=1),
        "token_list: none of the tokens is a device of this app: 'x'",
    ),
    (
        "tag-rules-missing",
        "android",
        push_body(audience_type="tag"),
        "tag_rules: required for audience_type tag (or the legacy tag_list)",
    ),
    (
        "tag-list-long",
        "android",
        push_body(audience_type="tag", tag_list={"tags": ["t" * 300, "u" * 300]}),
        "tag_list.tags: at most 512 characters in all",
    ),
    (
        "tag-type",
        "android",
        push_body(audience_type="tag", tag_rules=rules("xg_bogus")),
        "tag_rules[0].tag_items[0].tag_type: 'xg_bogus' is not supported",
    ),
    # push_app.py
    (
        "audience-type",
        "android",
        push_body(audience_type="everyone"),
        "audience_type: must be one of all, tag, token, token_list, account, account_list, "
        "package_account_push, package_token_push; got 'everyone'",
    ),
    (
        "channel-limit",
        "ios_apns",
        push_body(environment="product", message=LONG_MESSAGE),
        "message: the APNs payload would be 4128 bytes; APNs carries at most 4096",
    ),
    # sms_info.py
    (
        "sms-info-missing",
        "android",
        push_body(resend_by_sms=True),
        "sms_info: required when resend_by_sms is true",
    ),
    (
        "sms-delay",
        "android",
        push_body(expire_time=900, resend_by_sms=True, sms_info=sms_info(delay_trigger_time=1200)),
        "sms_info.delay_trigger_time: must be at most the message's expire_time (900)",
    ),
    (
        "sms-rejected",
        "android",
        push_body(resend_by_sms=True, sms_info=sms_info(sms_template_params=["one"])),
        "sms_info.sms_template_params: template 449739 takes 2 parameter(s); got 1",
    ),
    # tags.py
    (
        "tag-not-string",
        "tags",
        {"operator_type": 9, "tag_token_list": [[5, "tok"]]},
        "tag_token_list[0][0]: must be a string",
    ),
    (
        "tag-blank",
        "tags",
        {"operator_type": 1, "token_list": ["tok"], "tag_list": [" "]},
        "tag_list[0]: must not be empty",
    ),
    (
        "tag-long",
        "tags",
        {"operator_type": 1, "token_list": ["tok"], "tag_list": ["t" * 51]},
        "tag_list[0]: at most 50 characters",
    ),
    (
        "pair-shape",
        "tags",
        {"operator_type": 9, "tag_token_list": [["vip"]]},
        'tag_token_list[0]: must be {"tag": …, "token": …} or [tag, token]',
    ),
    (
        "pair-token",
        "tags",
        {"operator_type": 9, "tag_token_list": [["vip", 5]]},
        "tag_token_list[0][1]: must be a string",
    ),
    (
        "pair-missing",
        "tags",
        {"operator_type": 9, "tag_token_list": [{"tag": "vip"}]},
        "tag_token_list[0].token: required",
    ),
    # overview.py
    (
        "compact-day",
        "days",
        {"startDate": "2026-06-01", "endDate": "20260601"},
        "startDate: must be YYYYMMDD; got '2026-06-01'",
    ),
    (
        "compact-day-old",
        "days",
        {"startDate": "20250101", "endDate": "20260601"},
        "startDate: only the last 30 days can be queried",
    ),
    (
        "compact-end-before-start",
        "days",
        {"startDate": "20260601", "endDate": "20260530"},
        "endDate: is before startDate",
    ),
    (
        "group-missing",
        "group",
        {"startDate": "20260601", "endDate": "20260601"},
        "planId: give planId (or the legacy groupId)",
    ),
    (
        "attributes-empty",
        "attributes",
        {"cmd": 1, "token": "tok", "attributeInfo": {"attributeMap": {}}},
        "attributeInfo.attributeMap: required",
    ),
    (
        "attributes-many",
        "attributes",
        {
            "cmd": 1,
            "token": "tok",
            "attributeInfo": {"attributeMap": {f"a{i}": "v" for i in range(101)}},
        },
        "attributeInfo.attributeMap: at most 100 attributes",
    ),
    # statistics.py
    ("push-id-missing", "push_id", {}, "pushId: required"),
    ("push-id-bad", "push_id", {"pushId": "abc"}, "pushId: push 'abc' does not exist"),
    (
        "record-date",
        "records",
        {"startDate": "20260601", "endDate": "2026-06-01"},
        "startDate: must be YYYY-MM-DD; got '20260601'",
    ),
    (
        "record-date-range",
        "records",
        {"startDate": "0001-01-01", "endDate": "2026-06-01"},
        "startDate: must be a date between 1900-01-01 and 9998-12-31",
    ),
    (
        "record-end-before-start",
        "records",
        {"startDate": "2026-06-02", "endDate": "2026-06-01"},
        "endDate: is before startDate",
    ),
    (
        "record-push-type",
        "records",
        {"startDate": "2026-06-01", "endDate": "2026-06-01", "pushType": "x"},
        "pushType: must be one of all, tag, token, token_list, account, account_list, "
        "package_account_push, package_token_push",
    ),
    # submit.py
    (
        "idempotency-reused",
        "submit_again",
        push_body(),
        "Idempotency-Key: already used with another request body in the last 24 hours",
    ),
    (
        "broadcast-rate",
        "submit_twice",
        push_body(),
        "audience_type: all, tag and package pushes are limited to 1 per second per app",
    ),
]


@pytest.fixture
def refuse(app, ios_app, apns, sms, personas):
    """``refuse(target, body)``: the TpnsError the parser (or submit) raises for ``body``."""
    add_device(app, "tok-a")
    configure(ios_app, apns)
    apns_device(ios_app, 1, channel_token_invalid_at=NOW - timedelta(days=1))
    today = date(2026, 6, 1)

    def run(target, body):
        if target == "android":
            parse.parse_push(app, body, now=NOW)
        elif target in ("ios", "ios_apns"):
            parse.parse_push(ios_app, body, now=NOW)
        elif target == "load":
            parse.load(body)
        elif target == "idempotency":
            parse.idempotency_key(RequestFactory().post("/", HTTP_IDEMPOTENCY_KEY=body))
        elif target == "tags":
            tags.parse_tag_operation(body)
        elif target == "days":
            overview.day_range(body, today=today, back_days=overview.OVERVIEW_DAYS)
        elif target == "group":
            overview.parse_group_query(body, today=today)
        elif target == "attributes":
            overview.parse_attribute_command(body)
        elif target == "push_id":
            statistics.push_id(body)
        elif target == "records":
            statistics.parse_record_query(body)
        elif target == "submit_again":
            submit.submit(app, body, now=NOW, idempotency_key="k", request_hash="a")
            submit.submit(app, body, now=NOW, idempotency_key="k", request_hash="b")
        elif target == "submit_twice":
            submit.submit(app, body, now=NOW)
            submit.submit(app, body, now=NOW + timedelta(milliseconds=500))
        else:
            raise AssertionError(target)

    def refused(target, body) -> TpnsError:
        with pytest.raises(TpnsError) as caught:
            run(target, body)
        return caught.value

    return refused


def composer_error(personas, exc: TpnsError) -> str:
    """What the composer shows for ``exc`` (``views._tpns_error`` on a ComposeForm)."""
    form = ComposeForm(
        {},
        account=personas.org,
        templates=[],
        signatures=[],
        applications=SmsApplication.objects.none(),
    )
    form.is_valid()
    before = {str(e) for errors in form.errors.values() for e in errors}
    views._tpns_error(form, exc, field="test_token")
    added = {str(e) for errors in form.errors.values() for e in errors} - before
    assert len(added) == 1, added
    return added.pop()


def translatable_parts(words: Words):
    """``words`` and the words among its values (``Words.say`` of another), depth first."""
    yield words
    for value in words.values.values():
        inner = getattr(value, "__self__", None)
        if isinstance(inner, Words):
            yield from translatable_parts(inner)


@pytest.mark.parametrize("target, body, english", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_refusal_reads_in_chinese_on_the_composer_and_unchanged_in_english(
    refuse, personas, target, body, english
):
    exc = refuse(target, body)

    assert exc.message == english  # what the API answers
    with translation.override("en"):
        assert exc.for_people() == english
    with translation.override("zh-hans"):
        shown = composer_error(personas, exc)
        for part in translatable_parts(exc.words):
            if not isinstance(part.text, str):  # a plain str is a value, not a message
                with translation.override("en"):
                    msgid = str(part.text)
                assert str(part.text) != msgid, msgid
                if re.search("[a-z]{2}", re.sub(r"%\(\w+\)s", "", msgid)):
                    assert CJK.search(str(part.text)), msgid
    assert CJK.search(shown), shown
    assert shown.startswith(f"{exc.field}: " if exc.field else "")
    assert shown.endswith(f"(ret_code {exc.code.value})")


def raise_sites() -> set[tuple[str, int]]:
    """Every ``raise`` of a refusal in the composer's modules: (file name, line)."""
    sites = set()
    for path in RAISING_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                sites.add((path.name, node.lineno))
    return sites


def raised_at(exc: BaseException) -> tuple[str, int]:
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).name, tb.tb_lineno


def test_the_walk_reaches_every_raise_site(refuse):
    reached = {raised_at(refuse(target, body)) for _id, target, body, _english in CASES}

    assert raise_sites() - reached == set()


def test_no_refusal_is_built_from_a_bare_english_string():
    """A message given as a literal or an f-string would reach the console in English."""
    builders = {"invalid", "missing", "TpnsError", "Words"}
    bare = []
    for path in RAISING_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") in builders):
                continue
            position = 0 if node.func.id == "Words" else 1
            if len(node.args) > position and isinstance(
                node.args[position], ast.Constant | ast.JoinedStr
            ):
                bare.append(f"{path.name}:{node.lineno}")
    assert bare == []


# -- through the console ---------------------------------------------------------------------


@pytest.fixture
def chinese(login, personas):
    Preference.choose(personas.member, "zh-hans")
    return login(personas.member)


@pytest.fixture
def form_data(app, sms):
    add_device(app, "tok-a", phone="+8613711110001")
    return {
        "application": app.pk,
        "audience_type": "token_list",
        "tokens": "tok-a",
        "account_type": 0,
        "tags_operator": "OR",
        "message_type": "notify",
        "title": "Approval",
        "content": "Expense report 42 waits for you",
        "expire_time": 86400,
        "resend_by_sms": "on",
        "trigger_condition": 1,
        "delay_trigger_time": 600,
        "sms_app_id": "1400006666",
        "sms_template_id": "449739",
        "sms_template_params": "报销单 42\n明天",
        "max_sms": 1,
    }


def test_the_composer_says_a_refusal_of_the_api_rules_in_chinese(form_data, chinese, personas):
    form_data["sms_template_params"] = "only one"

    page = chinese.post(f"/a/{personas.org.pk}/push/pushes/new/", form_data).content.decode()

    assert "sms_info.sms_template_params: 模板 449739 需要 2 个参数；收到 1 个" in page
    assert "takes 2 parameter(s)" not in page and not Push.objects.exists()


def test_a_test_push_to_an_unknown_token_is_refused_in_chinese(form_data, chinese, personas):
    form_data.update(test="1", test_token="nobody")

    page = chinese.post(f"/a/{personas.org.pk}/push/pushes/new/", form_data).content.decode()

    assert "token_list: 不是此应用的设备：&#x27;nobody&#x27;（传 ignore_invalid_token: 1" in page
    assert "not a device of this app" not in page and not Push.objects.exists()


def test_the_api_answers_the_same_refusal_in_english_whatever_the_language(client, app):
    response = tpns(
        client,
        app,
        "push/app",
        push_body(expire_time=-1),
        headers={"Accept-Language": "zh-hans"},
    )

    assert response.json()["err_msg"] == "expire_time: must be at least 0"
    assert json.loads(response.content)["ret_code"] == 1008007


# -- a device's invalid-token reason ---------------------------------------------------------


def pruned(app, reason: str) -> Device:
    return add_device(
        app,
        "pruned",
        channel="xiaomi",
        channel_token="regid-1",
        channel_token_at=NOW - timedelta(days=1),
        channel_token_invalid_at=NOW - timedelta(hours=2),
        channel_token_invalid_reason=reason,
    )


def reason_shown(client, personas, device) -> str:
    page = client.get(f"/a/{personas.org.pk}/push/devices/{device.pk}/").content.decode()
    return " ".join(page.split('id="token-reason">')[1].split("</span>")[0].split())


@pytest.mark.parametrize(
    "reason, chinese_words, english_words",
    [
        ("receipt: invalid token", "推送通道回执：token 无效", "a receipt of the push service"),
        ("receipt: 2", "推送通道回执，状态 <code>2</code>", "status <code>2</code>"),
        ("bad_regid", "推送通道对推送的答复：<code>bad_regid</code>", "<code>bad_regid</code>"),
    ],
)
def test_the_device_page_says_why_the_token_is_invalid_in_the_readers_language(
    app, chinese, personas, reason, chinese_words, english_words
):
    device = pruned(app, reason)
    english = Client()
    english.force_login(personas.owner)

    in_chinese = reason_shown(chinese, personas, device)
    in_english = reason_shown(english, personas, device)

    assert in_chinese == chinese_words
    assert english_words in in_english and not CJK.search(in_english)
    assert Device.objects.get(pk=device.pk).channel_token_invalid_reason == reason


def test_a_vendors_word_is_quoted_escaped(app, chinese, personas):
    device = pruned(app, "<b>x</b>")

    assert "<code>&lt;b&gt;x&lt;/b&gt;</code>" in reason_shown(chinese, personas, device)
