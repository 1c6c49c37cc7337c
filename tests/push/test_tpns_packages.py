"""POST /v3/push/package/upload and the package audiences of /v3/push/app: TPNS's documented
upload examples, file formats and limits with their error codes, bad lines counted, streaming
parsing, package pushes (tokens, accounts, SMS, scheduling, the 1-per-second limit), and app
isolation. Every refusal writes nothing."""

import io
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import urllib3
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile

from push import fallback, fanout, packages
from push.models import DeviceAccount, Push, PushPackage, PushPackageEntry
from push.tpns import packages as upload_view
from sms.models import SmsMessage
from tests.conftest import basic_auth as basic
from tests.push.conftest import add_device, outsider_app
from tests.push.test_tpns_auth import tpns

URL = "/v3/push/package/upload"
TOKEN_A, TOKEN_B, TOKEN_C = (f"{c * 32}{i:04d}" for i, c in enumerate("abc"))

# TPNS's documented answer: {retCode: Integer, errMsg: String, uploadId: Integer}.
DOCUMENTED_ANSWER = {"retCode": int, "errMsg": str, "uploadId": int}


def upload(client, app, name, content: bytes, *, secret=None, **fields):
    """Upload as the Token package page's Python example does (requests: files + data)."""
    return client.post(
        URL,
        {"file": SimpleUploadedFile(name, content), **fields},
        HTTP_AUTHORIZATION=basic(app.access_id, app.test_secret if secret is None else secret),
    ).json()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            if name.endswith("/"):
                archive.mkdir(name.rstrip("/"))
            else:
                archive.writestr(name, content)
    return buffer.getvalue()


def entries(upload_id) -> set[str]:
    return set(
        PushPackageEntry.objects.filter(package_id=upload_id).values_list("value", flat=True)
    )


def nothing_written():
    assert not PushPackage.objects.exists()
    assert not PushPackageEntry.objects.exists()


# --------------------------------------------------------------------------------------------
# The documented examples


def test_the_number_package_pages_python_example_is_answered_as_documented(client, app):
    # The number package page's Python 3 example, unchanged but for the file: urllib3's
    # encode_multipart_formdata of {"file": (name, bytes)}, Basic auth.
    data = {"file": ("accounts.txt", b"user-0001\nuser-0002\n")}
    body, content_type = urllib3.encode_multipart_formdata(data)

    answer = client.post(
        URL,
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=basic(app.access_id, app.test_secret),
    ).json()

    assert {key: type(value) for key, value in answer.items()} == DOCUMENTED_ANSWER
    assert (answer["retCode"], answer["errMsg"]) == (0, "NO_ERROR")
    assert answer["uploadId"] > 0
    package = PushPackage.objects.get(pk=answer["uploadId"], application=app)
    assert (package.name, package.kind, package.lines, package.entries) == (
        "accounts.txt",
        "account",
        2,
        2,
    )
    assert entries(answer["uploadId"]) == {"user-0001", "user-0002"}


def test_the_token_package_pages_python_example_with_its_file_name_field(client, app):
    answer = upload(
        client, app, "tokens.txt", f"{TOKEN_A}\n{TOKEN_B}\n".encode(), fileName="/tmp/tokens.txt"
    )

    assert {key: type(value) for key, value in answer.items()} == DOCUMENTED_ANSWER
    package = PushPackage.objects.get(pk=answer["uploadId"])
    assert (package.kind, package.entries) == ("token", 2)


def test_a_path_as_the_file_name_keeps_the_base_name(client, app):
    # The number package example sends open(path).name, which may be a whole path.
    data = {"file": ("C:\\packages\\accounts.csv", b"user-0001\n")}
    body, content_type = urllib3.encode_multipart_formdata(data)

    answer = client.post(
        URL,
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=basic(app.access_id, app.test_secret),
    ).json()

    assert PushPackage.objects.get(pk=answer["uploadId"]).name == "accounts.csv"


# --------------------------------------------------------------------------------------------
# File formats


def test_a_txt_package_is_utf8_lines_with_bom_crlf_spaces_and_duplicates_handled(client, app):
    content = "\ufeff张三-01\r\n  user-0002  \r\nuser-0002\r\n\r\n张三-01\r\nuser-0003".encode()

    answer = upload(client, app, "accounts.txt", content)

    package = PushPackage.objects.get(pk=answer["uploadId"])
    assert entries(package.pk) == {"张三-01", "user-0002", "user-0003"}
    assert (package.lines, package.entries, package.bad_lines) == (6, 3, 1)  # the blank line
    assert package.bad_examples == [{"line": 4, "reason": "blank", "text": ""}]
    assert package.size == len(content)


def test_a_csv_package_is_one_column(client, app):
    content = b'user-0001\n"user,0002"\nuser-0003,\nuser-0004,extra\n'

    answer = upload(client, app, "accounts.csv", content)

    package = PushPackage.objects.get(pk=answer["uploadId"])
    assert entries(package.pk) == {"user-0001", "user,0002", "user-0003"}
    assert package.bad_examples == [
        {"line": 4, "reason": "more than one column", "text": "user-0004,extra"}
    ]


def test_the_same_line_is_one_column_in_csv_and_one_value_in_txt(client, app):
    answer = upload(client, app, "accounts.txt", b"user,0002\n")

    assert entries(answer["uploadId"]) == {"user,0002"}


@pytest.mark.parametrize("member", ["accounts.txt", "accounts.CSV"])
def test_a_zip_holding_one_txt_or_csv_is_read(client, app, member):
    answer = upload(client, app, "accounts.zip", zipped({member: b"user-0001\nuser-0002\n"}))

    assert answer["retCode"] == 0, answer
    assert entries(answer["uploadId"]) == {"user-0001", "user-0002"}


def test_a_zip_made_on_a_mac_keeps_only_its_file(client, app):
    content = zipped({"accounts.txt": b"user-0001\n", "__MACOSX/._accounts.txt": b"\x00\x05"})

    answer = upload(client, app, "accounts.zip", content)

    assert entries(answer["uploadId"]) == {"user-0001"}


@pytest.mark.parametrize(
    "name, content, code, message",
    [
        ("accounts.xlsx", b"user-0001\n", 1008011, "file: must be a .zip, .txt or .csv file"),
        ("accounts", b"user-0001\n", 1008011, "file: must be a .zip, .txt or .csv file"),
        ("accounts.zip", b"user-0001\n", 1008011, "file: not a zip archive"),
        (
            "two.zip",
            zipped({"a.txt": b"user-0001\n", "b.txt": b"user-0002\n"}),
            1008011,
            "file: a zip must hold a single .txt or .csv file and no folder; this one has 2 files",
        ),
        (
            "folder.zip",
            zipped({"dir/": b"", "dir/a.txt": b"user-0001\n"}),
            1008011,
            "file: a zip must hold a single .txt or .csv file and no folder; "
            "this one has 1 files and 1 folders",
        ),
        (
            "nested.zip",
            zipped({"dir/a.txt": b"user-0001\n"}),
            1008011,
            "file: the zip's file must not be in a folder",
        ),
        (
            "sheet.zip",
            zipped({"a.xlsx": b"user-0001\n"}),
            1008011,
            "file: the zip's file must be a .txt or .csv file",
        ),
        ("empty.zip", zipped({}), 1008011, "file: a zip must hold a single"),
        ("x" * 97 + ".txt", b"user-0001\n", 1008007, "file: the file name must be 1 to 100"),
        ("empty.txt", b"", 1008012, "file: the file is empty"),
        ("empty.zip", zipped({"a.txt": b""}), 1008012, "file: the file has no line"),
        (
            "bad.txt",
            b"\n \nx\n" + b"y" * 1000 + b"\n",
            1008012,
            "file: no line is an account or token (4 lines, all bad: blank, longer than 100 "
            "characters, not 2 to 100 characters)",
        ),
    ],
)
def test_a_file_tpns_does_not_take_is_refused_with_its_code(
    client, app, name, content, code, message
):
    answer = upload(client, app, name, content)

    assert (answer["retCode"], answer["errMsg"][: len(message)]) == (code, message), answer
    assert set(answer) == {"retCode", "errMsg"}
    nothing_written()


def test_a_file_name_of_100_characters_is_accepted(client, app):
    answer = upload(client, app, "x" * 96 + ".txt", b"user-0001\n")

    assert answer["retCode"] == 0, answer


def test_a_corrupt_zip_member_is_refused_and_writes_nothing(client, app):
    content = bytearray(zipped({"a.txt": b"".join(b"user-%04d\n" % i for i in range(1000))}))
    # Flip a byte of the compressed data (after the 30-byte local header and the name).
    content[30 + len("a.txt") + 20] ^= 0xFF

    answer = upload(client, app, "a.zip", bytes(content))

    assert answer["retCode"] == 1008011
    assert answer["errMsg"].startswith("file: cannot unzip a.txt")
    nothing_written()


# --------------------------------------------------------------------------------------------
# Size limits (TPNS: 100 MB), checked while the file streams in


def test_the_limit_is_tpns_100_mb():
    assert packages.MAX_FILE_BYTES == 100 * 1024 * 1024


def test_a_file_at_the_limit_is_taken_and_one_byte_more_is_refused(client, app, monkeypatch):
    monkeypatch.setattr(packages, "MAX_FILE_BYTES", 2**20)
    at_limit = b"user-0001\n" * (2**20 // 10) + b"user-0"  # 2**20 bytes
    assert len(at_limit) == 2**20

    taken = upload(client, app, "a.txt", at_limit)
    refused = upload(client, app, "b.txt", at_limit + b"x")

    assert taken["retCode"] == 0, taken
    assert refused == {"retCode": 1008011, "errMsg": "file: at most 1 MB"}
    assert PushPackage.objects.count() == 1


def test_an_oversized_upload_is_refused_before_its_body_is_read(client, app, monkeypatch):
    monkeypatch.setattr(packages, "MAX_FILE_BYTES", 2**20)
    monkeypatch.setattr(upload_view, "ENVELOPE_BYTES", 100)
    body, content_type = urllib3.encode_multipart_formdata({"file": ("a.txt", b"u" * (2**20 + 1))})

    def no_parsing(*args):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(upload_view, "SizeLimit", no_parsing)
    response = client.generic(
        "POST",
        URL,
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=basic(app.access_id, app.test_secret),
    )

    assert response.json() == {"retCode": 1008011, "errMsg": "file: at most 1 MB"}
    nothing_written()


def test_the_size_handler_stops_a_file_over_the_limit_as_it_streams():
    guard = upload_view.SizeLimit(None, 10)

    assert guard.receive_data_chunk(b"12345", 0) == b"12345"
    assert guard.receive_data_chunk(b"67890", 5) == b"67890"
    with pytest.raises(upload_view.StopUpload) as stopped:
        guard.receive_data_chunk(b"1", 10)
    assert stopped.value.connection_reset and guard.exceeded


def test_a_zip_expanding_past_the_bound_is_refused(client, app, monkeypatch):
    monkeypatch.setattr(packages, "MAX_UNZIPPED_BYTES", 10_000)
    content = zipped({"a.txt": b"user-000001\n" * 1000})  # 12,000 bytes inflated

    answer = upload(client, app, "a.zip", content)

    assert answer["retCode"] == 1008011 and "at most" in answer["errMsg"]
    nothing_written()


# --------------------------------------------------------------------------------------------
# Other refusals


def test_no_file_is_1008002(client, app):
    answer = client.post(
        URL, {"fileName": "x.txt"}, HTTP_AUTHORIZATION=basic(app.access_id, app.test_secret)
    ).json()

    assert answer == {
        "retCode": 1008002,
        "errMsg": "file: required: the package file, as multipart/form-data",
    }


def test_a_json_body_is_no_file(client, app):
    answer = tpns(client, app, "push/package/upload", {"file": "user-0001"}).json()

    assert answer["retCode"] == 1008002
    nothing_written()


def test_two_files_are_refused(client, app):
    answer = client.post(
        URL,
        {"file": [SimpleUploadedFile("a.txt", b"user-1\n"), SimpleUploadedFile("b.txt", b"u-2\n")]},
        HTTP_AUTHORIZATION=basic(app.access_id, app.test_secret),
    ).json()

    assert answer == {"retCode": 1008007, "errMsg": "file: give one file; got 2"}
    nothing_written()


def test_a_wrong_secret_is_1008003_camel_cased_and_writes_nothing(client, app):
    answer = upload(client, app, "a.txt", b"user-0001\n", secret="wrong")

    assert answer["retCode"] == 1008003 and "errMsg" in answer
    nothing_written()


def test_only_post_is_accepted(client, app):
    response = client.get(URL, HTTP_AUTHORIZATION=basic(app.access_id, app.test_secret))

    assert response.status_code == 405
    assert response.json()["retCode"] == 1008001


# --------------------------------------------------------------------------------------------
# Bad lines: counted, a few kept, not fatal


def test_bad_lines_are_counted_with_a_few_examples(client, app):
    lines = [
        b"user-0001",
        b"x",  # too short
        b"y" * 101,  # too long
        b"z" * 100_000,  # far too long: never held
        b"\xff\xfeuser",  # not UTF-8
        b"user\x00nul",  # PostgreSQL text cannot hold NUL
        b"   ",  # blank
        b"y" * 100,  # the longest account
        b"ab",  # the shortest
    ] + [b"x"] * 20
    answer = upload(client, app, "accounts.txt", b"\n".join(lines))

    package = PushPackage.objects.get(pk=answer["uploadId"])
    assert entries(package.pk) == {"user-0001", "y" * 100, "ab"}
    assert (package.lines, package.bad_lines) == (29, 26)
    assert len(package.bad_examples) == packages.BAD_EXAMPLES
    assert [(e["line"], e["reason"]) for e in package.bad_examples[:6]] == [
        (2, "not 2 to 100 characters"),
        (3, "not 2 to 100 characters"),
        (4, "longer than 100 characters"),
        (5, "not UTF-8"),
        (6, "control characters"),
        (7, "blank"),
    ]
    assert all(len(e["text"]) <= packages.EXAMPLE_CHARS for e in package.bad_examples)
    assert package.bad_examples[4]["text"] == "user\ufffdnul"


def test_a_package_is_a_token_package_when_every_line_is_a_token(client, app):
    tokens = upload(client, app, "t.txt", f"{TOKEN_A}\n{TOKEN_B}\n".encode())
    mixed = upload(client, app, "m.txt", f"{TOKEN_A}\nuser-0001\n".encode())

    assert PushPackage.objects.get(pk=tokens["uploadId"]).kind == "token"
    assert PushPackage.objects.get(pk=mixed["uploadId"]).kind == "account"


# --------------------------------------------------------------------------------------------
# Streaming: never the whole file in memory


def test_lines_are_yielded_as_the_chunks_come_in():
    pulled = []

    def chunks():
        for chunk in (b"user-0001\nuser-", b"0002\n", b"user-0003"):
            pulled.append(chunk)
            yield chunk

    lines = packages.split_lines(chunks())

    assert next(lines) == b"user-0001" and len(pulled) == 1
    assert list(lines) == [b"user-0002", b"user-0003"] and len(pulled) == 3


def test_a_line_without_end_is_dropped_as_it_streams_not_accumulated():
    tracemalloc.start()
    try:
        lines = list(packages.split_lines(iter([b"x" * 65536] * 320)))  # 20 MB, no newline
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert lines == [None]
    assert peak < 1_000_000


@pytest.mark.parametrize("chunk", [1, 7, 64 * 1024])
def test_lines_split_alike_whatever_the_chunk_size(chunk):
    content = b"\xef\xbb\xbfuser-0001\r\n\n" + b"z" * 500 + b"\nab\nlast"
    chunks = (content[i : i + chunk] for i in range(0, len(content), chunk))

    assert list(packages.split_lines(chunks)) == [
        b"\xef\xbb\xbfuser-0001",
        b"",
        None,
        b"ab",
        b"last",
    ]


@pytest.mark.postgres  # COPY; SQLite (make run) inserts in batches of 5,000 rows
def test_a_large_package_is_stored_in_bounded_memory(app, settings):
    count = 200_000
    upload = TemporaryUploadedFile("big.txt", "text/plain", 0, None)
    for start in range(0, count, 10_000):
        upload.write(b"".join(b"account-%08d\n" % i for i in range(start, start + 10_000)))
    upload.write(b"account-00000001\n")  # a duplicate
    upload.size = upload.tell()

    tracemalloc.start()
    try:
        package = packages.store(app, upload, now=datetime(2030, 1, 1, tzinfo=UTC))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        upload.close()

    assert (package.lines, package.entries, package.bad_lines) == (count + 1, count, 0)
    assert PushPackageEntry.objects.filter(package=package).count() == count
    assert upload.size > 3_000_000
    assert peak < upload.size / 3, peak  # a fraction of the file, whatever its size


# --------------------------------------------------------------------------------------------
# Package pushes


def push_body(**changes) -> dict:
    data = {
        "audience_type": "package_token_push",
        "message_type": "notify",
        "message": {"title": "Approval", "content": "Expense report 42 waits for you"},
    }
    data.update(changes)
    return data


def push_app(client, app, data):
    return tpns(client, app, "push/app", data).json()


def pushed_to(push_id) -> set[str]:
    push = Push.objects.get(pk=push_id)
    return set(push.deliveries.values_list("device__token", flat=True))


@pytest.fixture
def devices(app):
    return {
        "a": add_device(app, TOKEN_A, phone="+8613711110001"),
        "b": add_device(app, TOKEN_B, phone="+8613711110002"),
        "c": add_device(app, TOKEN_C),
    }


@pytest.fixture
def other(personas):
    """The outsider's app, with devices of the same tokens and accounts as ours."""
    other = outsider_app(personas)
    for token in (TOKEN_A, TOKEN_B):
        device = add_device(other, token)
        DeviceAccount.objects.create(device=device, application=other, account="user-0001")
    return other


def test_a_token_package_push_reaches_the_apps_devices_in_the_package(client, app, devices, other):
    package = upload(client, app, "t.txt", f"{TOKEN_A}\n{TOKEN_B}\nnot-a-device\n".encode())

    answer = push_app(client, app, push_body(upload_id=package["uploadId"]))

    assert answer["ret_code"] == 0, answer
    push = Push.objects.get(pk=answer["push_id"])
    assert (push.package_id, push.audience, push.status) == (
        package["uploadId"],
        {"upload_id": package["uploadId"]},
        "PUSH_INIT",
    )
    assert fanout.start(push.pk) is True  # the worker's part, as for all/tag
    assert pushed_to(push.pk) == {TOKEN_A, TOKEN_B}
    assert Push.objects.get(pk=push.pk).targets == 2


def test_an_account_package_push_follows_account_push_type(client, app, devices, other, clock):
    t = datetime(2030, 1, 1, tzinfo=UTC)
    for device, at in ((devices["a"], t), (devices["b"], t + timedelta(hours=1))):
        DeviceAccount.objects.create(
            device=device, application=app, account_type=7, account="user-0001", created_at=at
        )
    DeviceAccount.objects.create(device=devices["c"], application=app, account="user-0001")
    package = upload(client, app, "a.txt", b"user-0001\nuser-0002\n")
    answers = []
    for second, fields in enumerate(
        [
            {"account_type": 7, "account_push_type": 0},
            {"account_type": 7, "account_push_type": 1},
            {},
        ]
    ):
        clock(t.timestamp() + 2 * second)  # package pushes: one a second
        answers.append(
            push_app(
                client,
                app,
                push_body(
                    audience_type="package_account_push", upload_id=package["uploadId"], **fields
                ),
            )
        )
    latest, every, default_type = answers

    for answer in (latest, every, default_type):
        assert answer["ret_code"] == 0, answer
        fanout.start(int(answer["push_id"]))
    assert pushed_to(latest["push_id"]) == {TOKEN_B}  # the device bound last
    assert pushed_to(every["push_id"]) == {TOKEN_A, TOKEN_B}
    assert pushed_to(default_type["push_id"]) == {TOKEN_C}  # account_type 0


def test_the_documented_account_package_push_is_accepted(client, app, devices):
    DeviceAccount.objects.create(device=devices["a"], application=app, account="winner-01")
    package = upload(client, app, "winners.txt", b"winner-01\n")
    # The number package push guide's example, with our upload id.
    data = {
        "audience_type": "package_account_push",
        "upload_id": package["uploadId"],
        "account_push_type": 0,
        "message_type": "notify",
        "message": {"title": "恭喜您在本次活动中获奖", "content": "快快上线领取您的奖品吧！"},
    }

    answer = push_app(client, app, data)

    assert answer["ret_code"] == 0, answer
    fanout.start(int(answer["push_id"]))
    assert pushed_to(answer["push_id"]) == {TOKEN_A}


@pytest.mark.parametrize(
    "changes, code, message",
    [
        ({}, 1008002, "upload_id: required"),
        ({"upload_id": "12"}, 1008007, "upload_id: must be an integer"),
        ({"upload_id": 0}, 1008007, "upload_id: must be at least 1"),
        ({"upload_id": 987654321}, 1008007, "upload_id: package 987654321 does not exist"),
    ],
)
def test_a_package_push_needs_an_upload_id_of_its_app(client, app, devices, changes, code, message):
    answer = push_app(client, app, push_body(**changes))

    assert (answer["ret_code"], answer["err_msg"][: len(message)]) == (code, message), answer
    assert not Push.objects.exists()


def test_another_apps_upload_id_does_not_exist(client, app, devices, other):
    theirs = upload(client, other, "t.txt", f"{TOKEN_A}\n".encode())

    for kind in ("package_token_push", "package_account_push"):
        answer = push_app(client, app, push_body(audience_type=kind, upload_id=theirs["uploadId"]))

        assert answer["ret_code"] == 1008007
        assert answer["err_msg"] == f"upload_id: package {theirs['uploadId']} does not exist"
    assert not Push.objects.exists()


def test_an_outsiders_package_push_reaches_only_its_own_devices(client, app, devices, other):
    theirs = upload(client, other, "t.txt", f"{TOKEN_A}\n{TOKEN_B}\n".encode())

    answer = push_app(client, other, push_body(upload_id=theirs["uploadId"]))
    fanout.start(int(answer["push_id"]))

    push = Push.objects.get(pk=answer["push_id"])
    assert set(push.deliveries.values_list("device__application", flat=True)) == {other.pk}
    assert push.deliveries.count() == 2


def test_a_package_push_with_sms_reaches_the_bound_numbers(client, app, devices, sms):
    package = upload(client, app, "t.txt", f"{TOKEN_A}\n{TOKEN_B}\n{TOKEN_C}\n".encode())
    sms_info = {
        "delay_trigger_time": 600,
        "trigger_condition": 1,
        "sms_template_id": "449739",
        "sms_app_id": "1400006666",
        "sms_template_params": ["报销单 42", "明天"],
    }

    answer = push_app(
        client,
        app,
        push_body(upload_id=package["uploadId"], resend_by_sms=True, sms_info=sms_info),
    )
    assert answer["ret_code"] == 0, answer
    push = Push.objects.get(pk=answer["push_id"])
    fanout.start(push.pk)
    push.deliveries.filter(device=devices["b"]).update(arrived_at=push.created_at)
    fallback.sweep(push.deliveries.first().sms_due_at + timedelta(seconds=1))

    assert {d.device.token: d.outcome for d in push.deliveries.select_related("device")} == {
        TOKEN_A: "sent",
        TOKEN_B: "not_needed",
        TOKEN_C: "no_phone",
    }
    assert list(SmsMessage.objects.values_list("phone_number", flat=True)) == ["+8613711110001"]


def test_a_package_push_with_unresolvable_sms_info_is_refused_as_an_all_push(
    client, app, devices, sms
):
    package = upload(client, app, "t.txt", f"{TOKEN_A}\n".encode())
    info = {"delay_trigger_time": 600, "trigger_condition": 1, "sms_app_id": "1400006666"}

    answer = push_app(
        client, app, push_body(upload_id=package["uploadId"], resend_by_sms=True, sms_info=info)
    )
    as_all = push_app(
        client, app, push_body(audience_type="all", resend_by_sms=True, sms_info=info)
    )

    assert (answer["ret_code"], answer["err_msg"]) == (as_all["ret_code"], as_all["err_msg"])
    assert answer["err_msg"].startswith("sms_info.sms_template_id: required")
    assert not Push.objects.exists()


def test_a_package_push_can_be_scheduled(client, app, devices, clock):
    now = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)  # 08:00 in Beijing
    clock(now.timestamp())
    package = upload(client, app, "t.txt", f"{TOKEN_A}\n".encode())

    answer = push_app(
        client, app, push_body(upload_id=package["uploadId"], send_time="2030-01-01 10:30:00")
    )

    assert answer["ret_code"] == 0, answer
    push = Push.objects.get(pk=answer["push_id"])
    assert (push.status, push.send_at) == ("PUSH_WAIT", datetime(2030, 1, 1, 2, 30, tzinfo=UTC))
    assert fanout.start_due(now + timedelta(hours=2)) == 0
    assert fanout.start_due(now + timedelta(hours=2, minutes=30)) == 1
    assert pushed_to(push.pk) == {TOKEN_A}


def test_package_pushes_share_the_one_per_second_limit_of_all_and_tag(client, app, devices, clock):
    t = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    clock(t)
    package = upload(client, app, "t.txt", f"{TOKEN_A}\n".encode())
    assert push_app(client, app, push_body(upload_id=package["uploadId"]))["ret_code"] == 0

    clock(t + 0.5)
    all_push = push_app(client, app, push_body(audience_type="all"))
    again = push_app(client, app, push_body(upload_id=package["uploadId"]))

    clock(t + 1.5)
    later = push_app(client, app, push_body(upload_id=package["uploadId"]))

    assert (all_push["ret_code"], again["ret_code"], later["ret_code"]) == (1008028, 1008028, 0)
    assert Push.objects.count() == 2


def test_the_push_page_shows_the_package_the_api_pushed_to(client, app, personas, clock):
    clock(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    add_device(app, "tok-pkg")
    upload_id = upload(client, app, "pkg.txt", b"tok-pkg\n\x01bad\n")["uploadId"]
    answer = push_app(client, app, push_body(upload_id=upload_id))
    push = Push.objects.get(pk=answer["push_id"])
    client.force_login(personas.owner)

    page = client.get(f"/a/{app.account_id}/push/pushes/{push.pk}/").content.decode()

    assert f"upload {upload_id}" in page and "pkg.txt" in page and "1 bad" in page
