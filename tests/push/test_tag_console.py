"""The console's tags: the tag list with device counts, adding or removing a tag for devices of
the devices list (set-based, with TPNS's limits, operators only, audited), and importing a tag
from a CSV in the background with its progress and per-line error report."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ

from accounts.audit import AuditEvent
from push import tag_import, tags
from push.models import DeviceAccount, DeviceTag, TagImport, TagImportLine
from tests.push.conftest import add_device, outsider_app

pytestmark = pytest.mark.django_db


def token(n: int) -> str:
    return f"{n:036d}"


@pytest.fixture
def devices(app):
    return [add_device(app, token(i), tags=["vip"] if i < 2 else []) for i in range(5)]


def login(client, user):
    client.force_login(user)
    return client


def carrying(tag):
    return set(DeviceTag.objects.filter(tag=tag).values_list("device__token", flat=True))


# The tag list


def test_the_tag_list_counts_the_devices_of_each_tag_in_one_group_by(client, personas, app):
    for i in range(3):
        add_device(app, token(i), tags=["vip", "beijing"] if i < 2 else ["vip"])
    other = outsider_app(personas)
    add_device(other, token(9), tags=["vip", "secret-of-other-co"])
    login(client, personas.owner)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/a/{personas.org.pk}/push/tags/")

    rows = {(r["app"].pk, r["tag"]): r["devices"] for r in response.context["rows"]}
    assert rows == {(app.pk, "beijing"): 2, (app.pk, "vip"): 3}
    counting = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counting) == 1 and "GROUP BY" in counting[0].upper()
    assert "secret-of-other-co" not in response.content.decode()
    link = f"/a/{personas.org.pk}/push/devices/?application={app.pk}&amp;tag=vip"
    assert link in response.content.decode()


def test_the_tag_list_searches_by_name_and_pages(client, personas, app):
    device = add_device(app, token(1))
    DeviceTag.objects.bulk_create(
        [DeviceTag(device=device, application=app, tag=f"t{i:03d}") for i in range(60)]
        + [DeviceTag(device=device, application=app, tag="city:beijing")]
    )
    login(client, personas.owner)
    url = f"/a/{personas.org.pk}/push/tags/"

    assert [r["tag"] for r in client.get(url, {"q": "BEIJ"}).context["rows"]] == ["city:beijing"]
    first = client.get(url).context
    assert first["page"].paginator.num_pages == 2 and len(first["rows"]) == 50
    assert [r["tag"] for r in client.get(url, {"page": 2}).context["rows"]][-1] == "t059"


@pytest.mark.postgres
def test_counting_a_page_of_tags_reads_the_tag_index_not_every_row(app):
    """A million-device app: the page's counts come from push_tag_audience_idx ranges."""
    add_device(app, token(0))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO push_device (application_id, token, platform, app_version, sdk_version,"
            " os_version, device_brand, system_language, country, notifications_enabled,"
            " notifications_changed_at, created_at, last_seen_at, channel, channel_token,"
            " channel_token_invalid_reason)"
            " SELECT %s, lpad(g::text, 36, '0'), 'android', '', '', '', '', '', '', true,"
            " now(), now(), now(), 'builtin', '', '' FROM generate_series(1, 50000) g",
            [app.pk],
        )
        cursor.execute(
            "INSERT INTO push_devicetag (device_id, application_id, tag)"
            " SELECT id, application_id, 't' || (id %% 40) FROM push_device"
            " WHERE application_id = %s",
            [app.pk],
        )
        cursor.execute("ANALYZE push_devicetag")
    assert len(tags.names(app.pk)) == 40
    query = tags_count_query(app.pk, ["t1", "t2"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + query[0], query[1])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "push_tag_audience_idx" in plan, plan
    assert "Seq Scan on push_devicetag" not in plan, plan


def tags_count_query(app_id, names):
    from django.db.models import Count

    qs = (
        DeviceTag.objects.filter(application_id=app_id, tag__any=names)
        .values("application_id", "tag")
        .annotate(n=Count("*"))
        .order_by()
    )
    assert tags.counts((app_id, n) for n in names)  # the same query the page runs
    return qs.query.sql_with_params()


# Adding and removing a tag for devices of the devices list


def tag_devices(client, account, data, query=""):
    return client.post(f"/a/{account.pk}/push/devices/tag{query}", data)


def test_an_operator_adds_a_tag_to_the_ticked_devices_in_one_insert(client, personas, app, devices):
    login(client, personas.member)
    chosen = [devices[1].pk, devices[2].pk, devices[3].pk]

    with CaptureQueriesContext(connection) as queries:
        response = tag_devices(
            client,
            personas.org,
            {"action": "add", "tag": "vip", "scope": "chosen", "device": chosen},
        )

    assert response.status_code == 302
    assert carrying("vip") == {token(0), token(1), token(2), token(3)}
    inserts = [
        q for q in queries.captured_queries if "INSERT INTO" in q["sql"] and "devicetag" in q["sql"]
    ]
    assert len(inserts) == 1 and "SELECT" in inserts[0]["sql"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.DEVICES_TAGGED)
    assert (event.actor, event.target, event.detail["changed"]) == (personas.member, "vip", 2)
    notes = [str(m) for m in response.wsgi_request._messages]
    assert notes == ["Tag “vip” added to 2 devices."]


def test_removing_a_tag_from_all_devices_matching_the_filter_is_one_delete(
    client, personas, app, devices
):
    other = outsider_app(personas)
    add_device(other, token(0), tags=["vip"])
    login(client, personas.member)

    with CaptureQueriesContext(connection) as queries:
        tag_devices(
            client,
            personas.org,
            {"action": "remove", "tag": "vip", "scope": "matching"},
            query=f"?application={app.pk}&token=0000",
        )

    assert DeviceTag.objects.filter(application=app, tag="vip").count() == 0
    assert DeviceTag.objects.filter(application=other, tag="vip").count() == 1  # not ours
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 1
    assert AuditEvent.objects.get().action == AuditEvent.Action.DEVICES_UNTAGGED


def test_the_filter_limits_all_matching_devices(client, personas, app, devices):
    login(client, personas.member)
    tag_devices(
        client,
        personas.org,
        {"action": "add", "tag": "new", "scope": "matching"},
        query=f"?tag=vip&application={app.pk}",
    )
    assert carrying("new") == {token(0), token(1)}


def test_a_filter_that_is_not_one_never_means_all_devices(client, personas, app, devices):
    login(client, personas.member)
    response = tag_devices(
        client,
        personas.org,
        {"action": "add", "tag": "new", "scope": "matching"},
        query="?ends=abc",
    )
    assert not DeviceTag.objects.filter(tag="new").exists()
    assert "The filter is not valid" in " ".join(str(m) for m in response.wsgi_request._messages)


def test_another_accounts_device_cannot_be_ticked(client, personas, app, devices):
    other = outsider_app(personas)
    theirs = add_device(other, token(7))
    login(client, personas.member)
    tag_devices(
        client,
        personas.org,
        {"action": "add", "tag": "x", "scope": "chosen", "device": [theirs.pk]},
    )
    assert not DeviceTag.objects.filter(device=theirs).exists()


def test_a_viewer_is_refused_and_nothing_is_written(client, personas, viewer, app, devices):
    login(client, viewer)

    response = tag_devices(
        client,
        personas.org,
        {"action": "add", "tag": "x", "scope": "chosen", "device": [devices[0].pk]},
    )
    upload = client.post(
        f"/a/{personas.org.pk}/push/tags/imports/new",
        {
            "application": app.pk,
            "kind": "token",
            "action": "add",
            "tag": "x",
            "file": csv_file(token(0)),
        },
    )

    assert (response.status_code, upload.status_code) == (403, 403)
    assert not DeviceTag.objects.filter(tag="x").exists()
    assert not TagImport.objects.exists() and not AuditEvent.objects.exists()
    page = client.get(f"/a/{personas.org.pk}/push/devices/").content.decode()
    assert 'id="device-tag-form"' not in page and 'name="device"' not in page


def test_the_per_device_tag_cap_of_tpns_holds(client, personas, app, devices):
    full = devices[4]
    DeviceTag.objects.bulk_create(
        [
            DeviceTag(device=full, application=app, tag=f"t{i}")
            for i in range(tags.MAX_TAGS_PER_DEVICE)
        ]
    )
    login(client, personas.member)

    response = tag_devices(
        client,
        personas.org,
        {"action": "add", "tag": "new", "scope": "chosen", "device": [full.pk, devices[3].pk]},
    )

    assert carrying("new") == {token(3)}
    assert DeviceTag.objects.filter(device=full).count() == tags.MAX_TAGS_PER_DEVICE
    notes = [str(m) for m in response.wsgi_request._messages]
    assert "1 device was left out: it carries 100 tags already." in notes


def test_the_tag_name_rules_are_the_tpns_apis(client, personas, app, devices):
    login(client, personas.member)
    for bad in ("   ", "x" * 51):
        response = tag_devices(
            client,
            personas.org,
            {"action": "add", "tag": bad, "scope": "chosen", "device": [devices[0].pk]},
        )
        assert response.status_code == 302
    assert DeviceTag.objects.count() == 2  # only the fixture's
    with pytest.raises(ValueError):
        tags.add_to(app.pk, app.devices.all(), "x" * 51)


def test_the_application_tag_limit_refuses_the_whole_action(
    client, personas, app, devices, monkeypatch
):
    monkeypatch.setattr(tags, "MAX_TAGS_PER_APP", 1)  # the app has "vip" already
    login(client, personas.member)

    response = tag_devices(
        client, personas.org, {"action": "add", "tag": "second", "scope": "matching"}
    )

    assert not DeviceTag.objects.filter(tag="second").exists()
    assert not AuditEvent.objects.exists()
    assert "at most 1 tags" in " ".join(str(m) for m in response.wsgi_request._messages)


# Importing from a CSV


def csv_file(*lines, name="tokens.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\n".join(lines) + "\n").encode(), content_type="text/csv")


def upload(client, account, app, file, **fields):
    data = {
        "application": app.pk,
        "kind": "token",
        "action": "add",
        "tag": "imported",
        "file": file,
    }
    data.update(fields)
    return client.post(f"/a/{account.pk}/push/tags/imports/new", data)


def test_an_import_is_queued_then_applied_with_a_per_line_error_report(
    client, personas, app, devices, django_capture_on_commit_callbacks
):
    full = devices[4]
    DeviceTag.objects.bulk_create(
        [
            DeviceTag(device=full, application=app, tag=f"t{i}")
            for i in range(tags.MAX_TAGS_PER_DEVICE)
        ]
    )
    login(client, personas.member)
    file = csv_file(
        "token",  # a header: skipped
        token(0),
        "a,b",  # line 3: two columns
        token(99),  # line 4: no such device
        token(4),  # line 5: carries 100 tags
        "",
        token(1),
        "x" * 40,  # line 8: too long for a token
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, personas.org, app, file)

    job = TagImport.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/tags/imports/{job.pk}/")
    assert [(q.func(), q.args()) for q in OrmQ.objects.all()] == [
        ("push.tasks.import_tags", (job.pk,))
    ]
    assert (job.lines, job.state, job.done_lines, job.bad_lines) == (8, "queued", 0, 2)
    assert not carrying("imported")  # nothing until the task runs

    from push.tasks import import_tags

    assert import_tags(job.pk)["state"] == "done"

    job.refresh_from_db()
    assert carrying("imported") == {token(0), token(1)}
    assert (job.state, job.done_lines, job.changed, job.bad_lines) == ("done", 8, 2, 4)
    report = [(line.line, line.value, line.problem) for line in tag_import.errors(job)]
    assert report == [
        (3, "a,b", "format"),
        (4, token(99), "unknown"),
        (5, token(4), "cap"),
        (8, "x" * 40, "not_token"),
    ]
    download = client.get(f"/a/{personas.org.pk}/push/tags/imports/{job.pk}/errors.csv")
    body = b"".join(download.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == ["line", "value", "problem", "reason"]
    assert rows[1] == ["3", "a,b", "format", "bad format: more than one column"]
    assert rows[2][:3] == ["4", token(99), "unknown"]
    page = client.get(f"/a/{personas.org.pk}/push/tags/imports/{job.pk}/").content.decode()
    assert "the device carries the most tags it may" in page
    assert AuditEvent.objects.get().detail["import"] == job.pk


def test_an_account_import_tags_every_device_bound_to_the_account(client, personas, app, devices):
    DeviceAccount.objects.create(
        device=devices[2], application=app, account_type=0, account="alice"
    )
    DeviceAccount.objects.create(
        device=devices[3], application=app, account_type=1002, account="alice"
    )
    login(client, personas.member)

    upload(client, personas.org, app, csv_file("alice", "bob"), kind="account", action="add")
    job = TagImport.objects.get()
    tag_import.run(job.pk)

    assert carrying("imported") == {token(2), token(3)}
    assert [(line.line, line.problem) for line in tag_import.errors(job)] == [(2, "unknown")]


def test_an_import_removes_the_tag(client, personas, app, devices):
    login(client, personas.member)
    upload(client, personas.org, app, csv_file(token(0), token(3)), action="remove", tag="vip")
    tag_import.run(TagImport.objects.get().pk)
    assert carrying("vip") == {token(1)}


def test_a_file_with_no_good_line_is_refused_and_nothing_is_written(client, personas, app, devices):
    login(client, personas.member)
    response = upload(client, personas.org, app, csv_file("a,b", "c,d"))
    assert response.status_code == 200
    assert "No line of the file is a token or an account." in response.content.decode()
    assert not TagImport.objects.exists() and not TagImportLine.objects.exists()
    assert not AuditEvent.objects.exists()


def test_the_progress_endpoint_reports_partial_progress(client, personas, app, devices):
    login(client, personas.member)
    upload(client, personas.org, app, csv_file(*(token(i) for i in range(5))))
    job = TagImport.objects.get()
    url = f"/a/{personas.org.pk}/push/tags/imports/{job.pk}/progress"
    assert client.get(url).json()["percent"] == 0

    assert tag_import.claim(job.pk, timezone.now())
    tag_import.step(job.pk, chunk=2)

    progress = client.get(url).json()
    assert (progress["state"], progress["done_lines"], progress["lines"]) == ("running", 2, 5)
    assert progress["percent"] == 40 and not progress["finished"]
    tag_import.step(job.pk, chunk=2)
    tag_import.step(job.pk, chunk=2)
    progress = client.get(url).json()
    assert (progress["percent"], progress["finished"], progress["changed"]) == (100, True, 5)


def test_a_rerun_after_the_worker_died_mid_way_applies_nothing_twice(
    client, personas, app, devices, monkeypatch
):
    login(client, personas.member)
    upload(client, personas.org, app, csv_file(*(token(i) for i in range(5)), token(1)))
    job = TagImport.objects.get()
    now = timezone.now()
    real_add_to, calls = tags.add_to, []

    def dies_in_the_second_chunk(*args, **kwargs):
        calls.append(1)
        result = real_add_to(*args, **kwargs)  # written, then the worker dies before commit
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return result

    monkeypatch.setattr(tags, "add_to", dies_in_the_second_chunk)
    with pytest.raises(SystemExit):
        tag_import.run(job.pk, chunk=2, now=lambda: now)
    job.refresh_from_db()
    assert (job.state, job.done_lines, job.changed) == ("running", 2, 2)
    assert carrying("imported") == {token(0), token(1)}  # the second chunk rolled back whole
    monkeypatch.setattr(tags, "add_to", real_add_to)

    assert tag_import.run(job.pk, chunk=2, now=lambda: now) == {"claimed": 0}  # lease holds
    later = now + tag_import.LEASE + timedelta(seconds=1)
    assert tag_import.run(job.pk, chunk=2, now=lambda: later)["state"] == "done"
    assert tag_import.run(job.pk, chunk=2, now=lambda: later) == {"claimed": 0}  # done

    job.refresh_from_db()
    assert carrying("imported") == {token(i) for i in range(5)}
    assert DeviceTag.objects.filter(tag="imported").count() == 5
    assert (job.done_lines, job.changed, job.bad_lines) == (6, 5, 0)
    assert not TagImportLine.objects.filter(job=job).exists()


def test_a_stalled_import_can_be_resumed_from_its_page(client, personas, app, devices):
    login(client, personas.member)
    upload(client, personas.org, app, csv_file(token(0)))
    job = TagImport.objects.get()
    OrmQ.objects.all().delete()
    url = f"/a/{personas.org.pk}/push/tags/imports/{job.pk}/resume"

    client.post(url)
    assert not OrmQ.objects.exists()  # fresh: not stalled
    TagImport.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=1))
    client.post(url)
    assert [q.func() for q in OrmQ.objects.all()] == ["push.tasks.import_tags"]


def test_another_accounts_import_is_not_found(client, personas, app, devices):
    login(client, personas.member)
    upload(client, personas.org, app, csv_file(token(0)))
    job = TagImport.objects.get()
    client.logout()
    login(client, personas.outsider)
    for suffix in ("", "progress", "errors.csv"):
        assert (
            client.get(f"/a/{personas.org.pk}/push/tags/imports/{job.pk}/{suffix}").status_code
            == 404
        )
    other = personas.outsider_account
    assert client.get(f"/a/{other.pk}/push/tags/imports/{job.pk}/").status_code == 404
