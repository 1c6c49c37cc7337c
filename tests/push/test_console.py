"""The push console pages (applications, devices, pushes) and the push admin."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Membership, Role
from push import fallback, fanout
from push.models import Application, Delivery, DeviceAccount, Platform, Push
from tests.conftest import make_user
from tests.push.conftest import add_device, outsider_app

PHONE_A, PHONE_B = "+8613711110001", "+8613711110002"
SECRET_ON_PAGE = re.compile(r'<code id="secret-key">([0-9a-f]+)</code>')


def url(account, page=""):
    return f"/a/{account.pk}/push/{page}"


def make_push(app, tokens, *, now=None, **fields):
    push = Push(
        application=app,
        audience_type="token_list",
        audience={"token_list": tokens},
        message_type="notify",
        title=fields.pop("title", "Expense report"),
        content="Expense report 42 waits for you",
        **fields,
    )
    return fanout.accept(push, now=now)


def sms_fields():
    return {
        "resend_by_sms": True,
        "sms_delay": 300,
        "sms_trigger": Push.Trigger.NOT_ARRIVED,
        "sms_app_id": "1400006666",
        "sms_template_id": "449739",
        "sms_params": ["报销单 42", "明天"],
    }


def member(personas, username, role):
    user = make_user(username)
    Membership.objects.create(user=user, account=personas.org, role=role)
    return user


@pytest.fixture
def world(app, personas):
    """Acme: two applications, three devices, one push; Other Co: a device with Acme's phone."""
    ios, _ = Application.objects.create_for(personas.org, name="Acme iOS", platform=Platform.IOS)
    a = add_device(app, "aaaa0001", tags=["vip", "beijing"], phone=PHONE_A)
    DeviceAccount.objects.create(device=a, application=app, account_type=0, account="user-1")
    b = add_device(app, "bbbb0002", phone=PHONE_B)
    c = add_device(ios, "cccc0003", tags=["vip"], enabled=False)
    theirs = outsider_app(personas, name="Theirs")
    their_device = add_device(theirs, "aaaa9999", tags=["vip"], phone=PHONE_A)
    push = make_push(app, ["aaaa0001", "bbbb0002"])
    return {
        "app": app,
        "ios": ios,
        "a": a,
        "b": b,
        "c": c,
        "push": push,
        "theirs": theirs,
        "their_device": their_device,
    }


def tokens(response):
    return {device.token for device in response.context["page"]}


def text(response):
    return response.content.decode()


# Applications


def test_creating_an_application_shows_its_secret_once_and_stores_it_sealed(login, personas):
    client = login(personas.owner)

    response = client.post(
        url(personas.org, "applications/"),
        {"name": "Acme Android", "platform": "android", "package_names": "com.acme.a\ncom.acme.b"},
    )

    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    secret = SECRET_ON_PAGE.search(text(response)).group(1)
    app = Application.objects.get(account=personas.org, name="Acme Android")
    assert app.check_secret(secret)
    assert app.package_names == ["com.acme.a", "com.acme.b"]
    assert str(app.access_id) in text(response) and app.access_key in text(response)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM push_application WHERE id = %s", [app.pk])
        row = cursor.fetchone()
    assert not any(secret in str(value) for value in row)

    again = client.get(url(personas.org, "applications/"))
    detail = client.get(url(personas.org, f"applications/{app.pk}/"))
    for page in (again, detail):
        assert secret not in text(page)
        assert app.masked_secret in text(page)


def test_a_bad_package_name_is_refused_and_nothing_is_created(login, personas):
    response = login(personas.owner).post(
        url(personas.org, "applications/"),
        {"name": "Acme", "platform": "android", "package_names": "not a package"},
    )

    assert response.status_code == 200
    assert "is not a package name" in text(response)
    assert not SECRET_ON_PAGE.search(text(response))
    assert not Application.objects.exists()


def test_rotating_shows_the_new_secret_once_and_the_old_one_stops_working(login, personas, app):
    client = login(personas.owner)
    old = app.test_secret

    response = client.post(url(personas.org, f"applications/{app.pk}/rotate-secret"))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = SECRET_ON_PAGE.search(text(response)).group(1)
    app.refresh_from_db()
    assert new != old
    assert app.check_secret(new) and not app.check_secret(old)
    assert new not in text(client.get(url(personas.org, f"applications/{app.pk}/")))


def test_rotating_needs_a_post(login, personas, app):
    response = login(personas.owner).get(url(personas.org, f"applications/{app.pk}/rotate-secret"))

    assert response.status_code == 405
    app.refresh_from_db()
    assert app.check_secret(app.test_secret)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_only_admins_and_owners_create_and_rotate(login, personas, app, role):
    client = login(member(personas, "someone", role))

    create = client.post(
        url(personas.org, "applications/"), {"name": "Sneaky", "platform": "android"}
    )
    rotate = client.post(url(personas.org, f"applications/{app.pk}/rotate-secret"))
    pages = [
        client.get(url(personas.org, "applications/")),
        client.get(url(personas.org, f"applications/{app.pk}/")),
    ]

    assert (create.status_code, rotate.status_code) == (403, 403)
    assert list(Application.objects.values_list("name", flat=True)) == ["Acme Android"]
    app.refresh_from_db()
    assert app.check_secret(app.test_secret)
    assert "Create an application" not in text(pages[0])
    assert "Rotate SecretKey" not in text(pages[1])


def test_an_admin_may_create_an_application(login, personas):
    client = login(member(personas, "ada", Role.ADMIN))

    response = client.post(
        url(personas.org, "applications/"), {"name": "Acme iOS", "platform": "ios"}
    )

    assert SECRET_ON_PAGE.search(text(response))
    assert Application.objects.get().platform == "ios"


def test_the_application_page_says_how_to_point_tpns_server_code_here(login, personas, world):
    app = world["app"]

    response = login(personas.member).get(url(personas.org, f"applications/{app.pk}/"))
    listing = login(personas.member).get(url(personas.org, "applications/"))

    page = text(response)
    assert "http://testserver/v3/push/app" in page and "http://testserver/sdk/v1/" in page
    assert str(app.access_id) in page and app.access_key in page
    assert response.context["devices"] == {"total": 2, "enabled": 2}
    assert f"pushes/{world['push'].pk}/" in page
    counts = {a.name: a.device_count for a in listing.context["page"]}
    assert counts == {"Acme Android": 2, "Acme iOS": 1}


# Devices


@pytest.mark.parametrize(
    "query, expected",
    [
        ({}, {"aaaa0001", "bbbb0002", "cccc0003"}),
        ({"token": "aaaa"}, {"aaaa0001"}),
        ({"token": "0002"}, set()),  # a prefix, not a substring
        ({"phone": "13711110001"}, {"aaaa0001"}),  # normalised to +8613711110001
        ({"phone": "+86 137 1111 0002"}, {"bbbb0002"}),
        ({"account": "user-1"}, {"aaaa0001"}),
        ({"account": PHONE_B}, {"bbbb0002"}),
        ({"tag": "vip"}, {"aaaa0001", "cccc0003"}),
        ({"tag": "vip", "application": "ios"}, {"cccc0003"}),
        ({"application": "app"}, {"aaaa0001", "bbbb0002"}),
        ({"notifications": "off"}, {"cccc0003"}),
        ({"notifications": "on", "tag": "vip"}, {"aaaa0001"}),
    ],
)
def test_devices_are_found_by_token_phone_account_and_tag(login, personas, world, query, expected):
    if "application" in query:
        query = {**query, "application": world[query["application"]].pk}

    response = login(personas.member).get(url(personas.org, "devices/"), query)

    assert response.status_code == 200
    assert tokens(response) == expected  # never the other account's aaaa9999


def test_devices_are_listed_newest_first_and_a_token_search_in_token_order(login, personas, app):
    for token in ("tok-c", "tok-a", "tok-b", "other"):
        add_device(app, token)
    client = login(personas.member)

    listed = client.get(url(personas.org, "devices/")).context["page"]
    found = client.get(url(personas.org, "devices/"), {"token": "tok-"}).context["page"]

    assert [d.token for d in listed] == ["other", "tok-b", "tok-a", "tok-c"]
    assert [d.token for d in found] == ["tok-a", "tok-b", "tok-c"]


def test_a_long_device_list_is_counted_only_as_far_as_the_cap(login, personas, app, monkeypatch):
    from push import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    monkeypatch.setattr(views, "DEVICES_COUNTED", 3)
    for i in range(5):
        add_device(app, f"tok-{i}")
    client = login(personas.member)

    capped = client.get(url(personas.org, "devices/"))
    exact = client.get(url(personas.org, "devices/"), {"token": "tok-1"})
    last = client.get(url(personas.org, "devices/"), {"page": 2})

    assert "Page 1 of 2 (more than 3)" in text(capped)
    assert (exact.context["page"].paginator.count, exact.context["page"].paginator.capped) == (
        1,
        False,
    )
    assert [d.token for d in last.context["page"]] == ["tok-2"]


def test_a_bad_phone_number_says_so_and_finds_nothing(login, personas, world):
    response = login(personas.member).get(url(personas.org, "devices/"), {"phone": "12"})

    assert "not a" in text(response) and tokens(response) == set()


def test_another_accounts_application_is_not_a_filter_choice(login, personas, world):
    response = login(personas.member).get(
        url(personas.org, "devices/"), {"application": world["theirs"].pk}
    )

    assert "Theirs" not in text(response)
    assert response.context["form"].errors


@pytest.mark.parametrize("page", ["devices/", "devices/{a}/", "pushes/{push}/"])
def test_numbers_are_masked_and_revealed_only_to_operators(login, personas, world, viewer, page):
    path = url(personas.org, page.format(a=world["a"].pk, push=world["push"].pk))

    seen_by_viewer = text(login(viewer).get(path))
    seen_by_operator = text(login(personas.member).get(path))

    assert "+86137****0001" in seen_by_viewer and PHONE_A not in seen_by_viewer
    assert "+86137****0001" in seen_by_operator
    assert f'data-full="{PHONE_A}"' in seen_by_operator


def test_the_device_page_shows_bindings_tags_permission_and_deliveries(login, personas, world):
    device = world["a"]
    changed = timezone.now() - timedelta(days=2)
    device.set_notifications(False, now=changed)
    later = make_push(world["app"], ["aaaa0001"], title="Second push")
    clicked = timezone.now() - timedelta(hours=1)
    Delivery.objects.filter(push=later, device=device).update(
        state="clicked", arrived_at=clicked - timedelta(minutes=5), clicked_at=clicked
    )

    response = login(personas.member).get(url(personas.org, f"devices/{device.pk}/"))

    page = text(response)
    assert "user-1" in page and "+86137****0001" in page
    assert "vip" in page and "beijing" in page
    assert timezone.localtime(changed, personas.org.tz).strftime("%Y-%m-%d %H:%M") in page
    assert [d.push_id for d in response.context["deliveries"]] == [later.pk, world["push"].pk]
    assert "Second push" in page
    # The later push's row shows the click (its state and time), the earlier one's does not.
    rows = {
        int(m[1]): m[0] for m in re.finditer(r"<tr>\s*<td><a [^>]*>(\d+)</a>.*?</tr>", page, re.S)
    }
    clicked_at = timezone.localtime(clicked, personas.org.tz).strftime("%m-%d %H:%M:%S")
    assert 'class="badge delivery-clicked">Clicked<' in rows[later.pk]
    assert f"<td>{clicked_at}</td>" in rows[later.pk]
    assert "delivery-clicked" not in rows[world["push"].pk]
    assert clicked_at not in rows[world["push"].pk]
    assert "bbbb0002" not in page


def test_the_device_page_shows_the_fallback_outcome(login, personas, app, sms):
    device = add_device(app, "aaaa0001", phone=PHONE_A)
    push = make_push(app, ["aaaa0001"], **sms_fields())
    fallback.sweep(push.deliveries.get().sms_due_at + timedelta(seconds=1))

    response = login(personas.member).get(url(personas.org, f"devices/{device.pk}/"))

    assert push.deliveries.get().outcome == "sent"
    assert 'class="badge outcome-sent" title="sent">SMS sent<' in text(response)


def count_queries(client, path):
    """Queries of a page once the session knows the account (the first visit records it)."""
    assert client.get(path).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_the_devices_page_makes_the_same_queries_for_ten_devices_as_for_one(login, personas, app):
    client = login(personas.member)
    add_device(app, "dev-0", phone="+8613711112000", tags=["t"])
    one = count_queries(client, url(personas.org, "devices/"))

    for i in range(1, 10):
        add_device(app, f"dev-{i}", phone=f"+861371111200{i}", tags=["t"])

    assert count_queries(client, url(personas.org, "devices/")) == one


@pytest.mark.parametrize("page", ["pushes/{push}/", "devices/{device}/", "pushes/"])
def test_push_and_device_pages_make_the_same_queries_for_ten_rows_as_for_one(
    login, personas, app, page
):
    client = login(personas.member)
    pages = []
    for n in (1, 10):
        devices = [
            add_device(app, f"dev-{n}-{i}", phone=f"+86137111{n:02d}{i:03d}") for i in range(n)
        ]
        pushes = [make_push(app, [d.token for d in devices]) for _ in range(n)]
        path = page.format(push=pushes[0].pk, device=devices[0].pk)
        if page == "pushes/":
            path += f"?application={app.pk}&since={timezone.localdate().isoformat()}"
        pages.append(count_queries(client, url(personas.org, path)))

    assert pages[0] == pages[1]


# Pushes


@pytest.fixture
def pushes(world):
    now = timezone.now()
    app, ios = world["app"], world["ios"]
    return {
        "plain": world["push"],
        "sms": make_push(app, ["aaaa0001"], **sms_fields()),
        "old": make_push(app, ["bbbb0002"], now=now - timedelta(days=10)),
        "ios": make_push(ios, ["cccc0003"]),
        "scheduled": make_push(app, ["aaaa0001"], send_at=now + timedelta(hours=2)),
    }


@pytest.mark.parametrize(
    "query, expected",
    [
        ({}, {"plain", "sms", "old", "ios", "scheduled"}),
        ({"application": "ios"}, {"ios"}),
        ({"status": "PUSH_WAIT"}, {"scheduled"}),
        ({"status": "PUSH_FINISHED", "application": "app"}, {"plain", "sms", "old"}),
        ({"sms": "yes"}, {"sms"}),
        ({"sms": "no"}, {"plain", "old", "ios", "scheduled"}),
        ({"since": -11, "until": -9}, {"old"}),
        ({"since": 0}, {"plain", "sms", "ios", "scheduled"}),
    ],
)
def test_the_push_list_filters(login, personas, world, pushes, query, expected):
    today = timezone.localdate(timezone=personas.org.tz)
    query = dict(query)
    for key in ("since", "until"):
        if key in query:
            query[key] = (today + timedelta(days=query[key])).isoformat()
    if "application" in query:
        query["application"] = world[query["application"]].pk

    response = login(personas.member).get(url(personas.org, "pushes/"), query)

    by_id = {push.pk: name for name, push in pushes.items()}
    assert {by_id[p.pk] for p in response.context["page"]} == expected


def funnel_row(page, key):
    match = re.search(rf'class="step-{key}"><th scope="row">[^<]+</th><td class="n">(\d+)<', page)
    return int(match.group(1))


def test_the_push_page_shows_the_delivery_funnel(login, personas, app):
    for i in range(4):
        add_device(app, f"tok-{i}", enabled=i != 3)
    push = make_push(app, [f"tok-{i}" for i in range(4)])
    now = timezone.now()
    d = push.deliveries.order_by("id")
    Delivery.objects.filter(pk__in=[x.pk for x in d[:3]]).update(state="arrived", arrived_at=now)
    Delivery.objects.filter(pk=d[0].pk).update(state="clicked", clicked_at=now)
    Delivery.objects.filter(pk=d[1].pk).update(state="dismissed", dismissed_at=now)
    Delivery.objects.filter(pk=d[3].pk).update(state="expired")

    response = login(personas.member).get(url(personas.org, f"pushes/{push.pk}/"))

    page = text(response)
    figures = {k: funnel_row(page, k) for k in ("targets", "sent", "arrived", "clicked")}
    assert figures == {"targets": 4, "sent": 4, "arrived": 3, "clicked": 1}
    assert (funnel_row(page, "dismissed"), funnel_row(page, "expired")) == (1, 1)
    assert funnel_row(page, "notifications_disabled") == 1
    assert "width: 75.0%" in page  # arrived: 3 of 4
    assert "Expense report 42 waits for you" in page
    assert "This push asked for no supplementary SMS" in page


def test_the_push_page_shows_the_sms_figures(login, personas, app, sms):
    add_device(app, "tok-a", phone=PHONE_A)
    add_device(app, "tok-c")  # no phone
    push = make_push(app, ["tok-a", "tok-c"], **sms_fields())
    fallback.sweep(push.deliveries.first().sms_due_at + timedelta(seconds=1))

    response = login(personas.member).get(url(personas.org, f"pushes/{push.pk}/"))

    page = text(response)
    assert funnel_row(page, "due") == 2
    assert funnel_row(page, "decided") == 2
    assert funnel_row(page, "outcome_sent") == 1
    assert funnel_row(page, "sms_sent") == 1
    assert re.search(r'outcome-row-no_phone"><td title="no_phone">No phone number</td><td>1<', page)
    assert "449739" in page


def test_the_deliveries_of_a_push_are_paginated_and_filtered(login, personas, app):
    for i in range(55):
        add_device(app, f"tok-{i:02d}")
    push = make_push(app, [f"tok-{i:02d}" for i in range(55)])
    Delivery.objects.filter(push=push, device__token="tok-07").update(state="failed")
    client = login(personas.member)

    first = client.get(url(personas.org, f"pushes/{push.pk}/"))
    second = client.get(url(personas.org, f"pushes/{push.pk}/"), {"page": 2})
    failed = client.get(url(personas.org, f"pushes/{push.pk}/"), {"state": "failed"})

    assert len(first.context["page"]) == 50 and len(second.context["page"]) == 5
    assert [d.device.token for d in failed.context["page"]] == ["tok-07"]
    assert (
        "export=csv" in failed.context["export_url"]
        and "state=failed" in (failed.context["export_url"])
    )


def read_csv(response):
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8's BOM: Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_deliveries_export_streams_a_csv_with_a_header(login, personas, world, viewer):
    path = url(personas.org, f"pushes/{world['push'].pk}/")

    as_operator = login(personas.member).get(path, {"export": "csv"})
    rows = read_csv(as_operator)

    assert as_operator["Content-Type"].startswith("text/csv")
    assert "attachment" in as_operator["Content-Disposition"]
    header, body = rows[0], rows[1:]
    assert header[:5] == ["delivery_id", "device_id", "token", "phone_number", "state"]
    assert sorted((r[2], r[3], r[4]) for r in body) == [
        ("aaaa0001", PHONE_A, "sent"),
        ("bbbb0002", PHONE_B, "sent"),
    ]
    viewer_rows = read_csv(login(viewer).get(path, {"export": "csv"}))
    assert sorted(r[3] for r in viewer_rows[1:]) == ["+86137****0001", "+86137****0002"]
    filtered = read_csv(login(viewer).get(path, {"export": "csv", "state": "clicked"}))
    assert filtered == [header]


# Scoping: an outsider sees nothing of Acme, even through its own account's URLs.

PAGES = [
    ("get", "applications/"),
    ("get", "applications/{app}/"),
    ("post", "applications/{app}/rotate-secret"),
    ("get", "devices/"),
    ("get", "devices/{device}/"),
    ("get", "pushes/"),
    ("get", "pushes/{push}/"),
    ("get", "pushes/{push}/?export=csv"),
]


@pytest.mark.parametrize("method, page", PAGES)
def test_an_outsider_gets_404_for_every_page_of_the_account(login, personas, world, method, page):
    path = url(
        personas.org, page.format(app=world["app"].pk, device=world["a"].pk, push=world["push"].pk)
    )

    response = getattr(login(personas.outsider), method)(path)

    assert response.status_code == 404


@pytest.mark.parametrize("method, page", [p for p in PAGES if "{" in p[1]])
def test_an_outsider_gets_404_for_acme_objects_under_their_own_account(
    login, personas, world, method, page
):
    own = personas.outsider_account
    path = url(own, page.format(app=world["app"].pk, device=world["a"].pk, push=world["push"].pk))

    response = getattr(login(personas.outsider), method)(path)

    assert response.status_code == 404
    world["app"].refresh_from_db()
    assert world["app"].check_secret(world["app"].test_secret)


def test_an_outsider_sees_only_their_own_account_in_lists(login, personas, world):
    client = login(personas.outsider)
    own = personas.outsider_account

    assert tokens(client.get(url(own, "devices/"), {"tag": "vip"})) == {"aaaa9999"}
    assert [a.name for a in client.get(url(own, "applications/")).context["page"]] == ["Theirs"]
    assert list(client.get(url(own, "pushes/")).context["page"]) == []


def test_the_navigation_links_the_push_pages(login, personas):
    page = text(login(personas.member).get(f"/a/{personas.org.pk}/"))

    for target in ("applications/", "devices/", "pushes/"):
        assert f'href="{url(personas.org, target)}"' in page


# Admin


@pytest.mark.parametrize("model", ["application", "device", "push", "delivery", "sweeprun"])
def test_every_push_changelist_renders_for_a_superuser(login, superuser, world, model):
    client = login(superuser)

    assert client.get(f"/admin/push/{model}/").status_code == 200
    assert client.get(f"/admin/push/{model}/", {"q": "aaaa0001"}).status_code == 200
    assert client.get(f"/admin/push/{model}/", {"q": str(world["push"].pk)}).status_code == 200


def test_the_admin_never_shows_the_secret_and_cannot_add_an_application(login, superuser, app):
    client = login(superuser)

    change = client.get(f"/admin/push/application/{app.pk}/change/")
    found = client.get("/admin/push/application/", {"q": str(app.access_id)})

    assert change.status_code == 200
    assert app.test_secret not in text(change) and app.masked_secret in text(change)
    assert app.secret_sealed not in text(change)
    assert client.get("/admin/push/application/add/").status_code == 403
    assert [a.pk for a in found.context["cl"].result_list] == [app.pk]


def test_the_admin_finds_a_device_by_bound_account_and_filters_deliveries(login, superuser, world):
    client = login(superuser)
    before = client.get("/admin/push/delivery/", {"outcome": "sent"})
    sent = world["push"].deliveries.order_by("id").last()
    Delivery.objects.filter(pk=sent.pk).update(
        fallback=Delivery.Fallback.DECIDED, outcome="sent", decided_at=timezone.now()
    )

    found = client.get("/admin/push/device/", {"q": "user-1"})
    delivery = client.get(f"/admin/push/delivery/{world['push'].deliveries.first().pk}/change/")
    filtered = client.get("/admin/push/delivery/", {"outcome": "sent"})

    assert [d.token for d in found.context["cl"].result_list] == ["aaaa0001"]
    assert delivery.status_code == 200
    assert before.status_code == 200 and list(before.context["cl"].result_list) == []
    assert filtered.status_code == 200
    assert [d.pk for d in filtered.context["cl"].result_list] == [sent.pk]


def test_a_tag_added_in_the_admin_belongs_to_the_devices_application(login, superuser, world):
    device = world["a"]
    tags = list(device.tags.order_by("id"))
    accounts = list(device.accounts.order_by("id"))
    data = {
        "application": device.application_id,
        "token": device.token,
        "platform": device.platform,
        "notifications_enabled": "on",
        "tags-TOTAL_FORMS": len(tags) + 1,
        "tags-INITIAL_FORMS": len(tags),
        "accounts-TOTAL_FORMS": len(accounts),
        "accounts-INITIAL_FORMS": len(accounts),
        f"tags-{len(tags)}-tag": "shanghai",
        f"tags-{len(tags)}-device": device.pk,
    }
    for i, t in enumerate(tags):
        data.update({f"tags-{i}-id": t.pk, f"tags-{i}-device": device.pk, f"tags-{i}-tag": t.tag})
    for i, a in enumerate(accounts):
        data.update(
            {
                f"accounts-{i}-id": a.pk,
                f"accounts-{i}-device": device.pk,
                f"accounts-{i}-account_type": a.account_type,
                f"accounts-{i}-account": a.account,
            }
        )

    response = login(superuser).post(f"/admin/push/device/{device.pk}/change/", data)

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    added = device.tags.get(tag="shanghai")
    assert added.application_id == device.application_id


def test_a_push_not_started_can_be_canceled_in_the_admin(login, superuser, pushes):
    scheduled, sent = pushes["scheduled"], pushes["plain"]

    login(superuser).post(
        "/admin/push/push/",
        {"action": "cancel_pushes", "_selected_action": [scheduled.pk, sent.pk]},
    )

    scheduled.refresh_from_db()
    sent.refresh_from_db()
    assert (scheduled.status, sent.status) == ("PUSH_CANCELED", "PUSH_FINISHED")
    assert fanout.start(scheduled.pk) is False


def test_the_deliveries_api_pages_and_refuses_bad_paging_parameters(client, personas, world):
    from tests.accounts.test_scoping import api as api_client

    c = api_client(client, personas.owner)
    deliveries = f"/api/v1/pushes/{world['push'].pk}/deliveries"
    ids = list(world["push"].deliveries.order_by("pk").values_list("pk", flat=True))

    first = c.get(deliveries, {"limit": 1}).json()
    second = c.get(deliveries, {"limit": 1, "offset": 1}).json()
    everything = c.get(deliveries, {"limit": "", "offset": ""}).json()

    assert set(first) == {"count", "results"}
    assert (first["count"], [d["id"] for d in first["results"]]) == (2, ids[:1])
    assert [d["id"] for d in second["results"]] == ids[1:]
    assert [d["id"] for d in everything["results"]] == ids
    for params, field in [
        ({"limit": "abc"}, "limit"),
        ({"limit": -1}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
    ]:
        response = c.get(deliveries, params)
        assert response.status_code == 400, params
        assert field in response.json()["error"]["fields"], params
