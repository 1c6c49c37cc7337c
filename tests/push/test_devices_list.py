"""The console's device list: search by the last digits of a number (masked for viewers, and no
search that tells a viewer more than the masked number shows), sortable columns, numbered
pages, and a clear sentence (never an error page) for a parameter that is not one."""

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from lib.paging import page_numbers
from push import views
from push.forms import DEVICE_SORTS
from push.models import DeviceAccount
from tests.push.conftest import add_device, outsider_app

pytestmark = pytest.mark.django_db


def url(account):
    return f"/a/{account.pk}/push/devices/"


def tokens(response):
    return [device.token for device in response.context["page"]]


def text(response):
    return response.content.decode()


@pytest.fixture
def numbers(app, personas):
    """Four devices of Acme with numbers, one without; Other Co's device ends like one of them."""
    made = {
        "a": add_device(app, "aaaa" + "0" * 28, phone="+8613711112222"),
        "b": add_device(app, "bbbb" + "0" * 28, phone="+8613799992222"),
        "c": add_device(app, "cccc" + "0" * 28, phone="+8613711113333"),
        "d": add_device(app, "dddd" + "0" * 28, phone="+14155550123"),
        "e": add_device(app, "eeee" + "0" * 28),
    }
    add_device(outsider_app(personas), "ffff" + "0" * 28, phone="+8613700002222")
    return made


# Search by the last digits


@pytest.mark.parametrize(
    "ends, expected",
    [
        ("2222", {"aaaa", "bbbb"}),
        ("12222", {"aaaa"}),
        ("13711112222", {"aaaa"}),
        ("8613711112222", {"aaaa"}),
        ("3", {"cccc", "dddd"}),
        (" 2 222 ", {"aaaa", "bbbb"}),  # spaces as people type them
        ("0000", set()),
    ],
)
def test_devices_are_found_by_the_last_digits_of_their_number(
    login, personas, numbers, ends, expected
):
    response = login(personas.member).get(url(personas.org), {"ends": ends})

    assert response.status_code == 200
    assert {t[:4] for t in tokens(response)} == expected  # never Other Co's ffff


def test_a_viewer_finds_by_the_last_four_digits_and_sees_the_numbers_masked(
    login, personas, numbers, viewer
):
    response = login(viewer).get(url(personas.org), {"ends": "2222"})

    assert {t[:4] for t in tokens(response)} == {"aaaa", "bbbb"}
    page = text(response)
    assert "+86137****2222" in page
    assert "+8613711112222" not in page and "+8613799992222" not in page
    assert "1111" not in page and "9999" not in page


@pytest.mark.parametrize(
    "query",
    [
        {"ends": "12222"},  # a fifth digit is one of the hidden ones
        {"phone": "+8613711112222"},  # the whole number, hidden digits and all
        {"phone": "13711112222", "ends": "2222"},
        {"token": "aaaa0"},  # a fifth character of a masked token
    ],
)
def test_a_viewer_cannot_search_by_what_the_masked_form_hides(
    login, personas, numbers, viewer, query
):
    response = login(viewer).get(url(personas.org), query)

    assert response.status_code == 200
    assert tokens(response) == []
    assert "masked for your role" in text(response)


def test_a_viewer_cannot_find_a_number_through_the_account_filter(login, personas, numbers, viewer):
    DeviceAccount.objects.create(
        device=numbers["e"], application=numbers["e"].application, account_type=0, account="u-7"
    )
    number = {"account": "+8613711112222"}

    as_viewer = login(viewer)
    assert tokens(as_viewer.get(url(personas.org), number)) == []
    assert [t[:4] for t in tokens(as_viewer.get(url(personas.org), {"account": "u-7"}))] == ["eeee"]
    as_operator = login(personas.member)
    assert [t[:4] for t in tokens(as_operator.get(url(personas.org), number))] == ["aaaa"]


def test_a_viewer_searches_a_short_token_only_by_what_its_mask_shows(login, personas, app, viewer):
    add_device(app, "abcdefgh")  # short: masked "ab****"
    add_device(app, "abcd" + "0" * 28)  # long: masked "abcd****0000"
    client = login(viewer)

    assert tokens(client.get(url(personas.org), {"token": "ab"})) == ["abcd" + "0" * 28, "abcdefgh"]
    assert tokens(client.get(url(personas.org), {"token": "abc"})) == ["abcd" + "0" * 28]


@pytest.mark.parametrize("ends", ["12a4", "+2222", "2222222222222222"])
def test_last_digits_that_are_not_digits_say_so(login, personas, numbers, ends):
    response = login(personas.member).get(url(personas.org), {"ends": ends})

    assert response.status_code == 200
    assert "Number ends with" in text(response) and response.context["form"].errors["ends"]


@pytest.mark.postgres  # the plan of PostgreSQL's index (SET, EXPLAIN)
def test_the_last_digits_search_is_served_by_the_suffix_index(personas, numbers):
    """Asked whether it can avoid reading every binding (sequential scans priced out, the
    question EXPLAIN answers on a small table), the planner uses push_account_phone_suffix_idx."""
    bindings = views._ending_with(DeviceAccount.objects.filter(application_id__in=[1, 2]), "2222")
    sql, params = bindings.values("device_id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "push_account_phone_suffix_idx" in plan, plan


@pytest.mark.postgres  # the plan of PostgreSQL's index (SET, EXPLAIN)
def test_a_rare_ending_reads_its_matches_on_the_suffix_index_first(personas, numbers, app):
    """Four digits: the matches first (an InitPlan on the suffix index), then their devices by
    id; never a walk over every binding in the list's order."""
    bindings = DeviceAccount.objects.filter(application_id__in=[app.pk])
    devices = views._with_number_ending(app.devices.order_by("-id"), bindings, "2222")
    sql, params = devices.values("pk")[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "InitPlan" in plan and "push_account_phone_suffix_idx" in plan, plan


# Sorting


@pytest.fixture
def sortable(app, personas):
    from push.models import Application, Platform

    ios, _ = Application.objects.create_for(personas.org, name="Acme iOS", platform=Platform.IOS)
    now = timezone.now()
    rows = [  # token, application, notifications, app version, last seen (hours ago)
        ("t-3", app, True, "2.0", 1),
        ("t-1", ios, False, "1.0", 3),
        ("t-4", app, True, "1.0", 2),
        ("t-2", ios, True, "2.0", 3),
        ("t-5", app, False, "1.0", 1),
    ]
    return [
        add_device(
            application,
            token,
            enabled=enabled,
            app_version=version,
            last_seen_at=now - timedelta(hours=hours),
        )
        for token, application, enabled, version, hours in rows
    ]


def expected_order(devices, key, descending):
    value = {
        "registered": lambda d: (),
        "token": lambda d: (d.token,),
        "application": lambda d: (d.application.name,),
        "notifications": lambda d: (d.notifications_enabled,),
        "app_version": lambda d: (d.app_version,),
        "last_seen": lambda d: (d.last_seen_at,),
    }[key]
    return [d.token for d in sorted(devices, key=lambda d: (*value(d), d.pk), reverse=descending)]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("key", list(DEVICE_SORTS))
def test_each_column_sorts_both_ways_with_ties_in_id_order(
    login, personas, sortable, key, descending
):
    sort = f"-{key}" if descending else key

    response = login(personas.member).get(url(personas.org), {"sort": sort})

    assert tokens(response) == expected_order(sortable, key, descending)
    header = re.search(
        rf'<th scope="col" aria-sort="(\w+)"><a href="\?([^"]*)" id="sort-{key}"', text(response)
    )
    assert header.group(1) == ("descending" if descending else "ascending")
    assert ("sort=" + ("" if descending else "-") + key) in header.group(2)  # the other way


def test_the_list_is_newest_first_unless_sorted(login, personas, sortable):
    response = login(personas.member).get(url(personas.org))

    assert tokens(response) == ["t-5", "t-2", "t-4", "t-1", "t-3"]
    assert 'aria-sort="descending"><a href="?sort=registered" id="sort-registered"' in text(
        response
    )


def test_the_sort_is_kept_across_pages_and_filters(login, personas, sortable, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    client = login(personas.member)
    query = {"sort": "-token", "notifications": "on"}

    first = client.get(url(personas.org), query)
    second = client.get(url(personas.org), {**query, "page": 2})

    assert tokens(first) + tokens(second) == ["t-4", "t-3", "t-2"]
    page = html.unescape(text(first))
    assert 'href="?sort=-token&notifications=on&page=2"' in page
    # A column's link keeps the filters (and starts again at page 1).
    assert 'href="?sort=app_version&notifications=on" id="sort-app_version"' in page
    # The filter form keeps the sort.
    assert '<option value="-token" selected>' in page


@pytest.mark.parametrize("sort", ["password", "--token", "-", "token;drop", "id"])
def test_a_sort_that_is_not_a_column_says_so(login, personas, sortable, sort):
    response = login(personas.member).get(url(personas.org), {"sort": sort})

    assert response.status_code == 200
    assert "Sort by" in text(response) and response.context["form"].errors["sort"]
    assert tokens(response) == ["t-5", "t-2", "t-4", "t-1", "t-3"]


# Page numbers


@pytest.mark.parametrize(
    "number, last, shown",
    [
        (1, 1, [1]),
        (1, 3, [1, 2, 3]),
        (1, 10, [1, 2, 3, None, 10]),
        (5, 10, [1, 2, 3, 4, 5, 6, 7, None, 10]),
        (6, 12, [1, None, 4, 5, 6, 7, 8, None, 12]),
        (12, 12, [1, None, 10, 11, 12]),
    ],
)
def test_page_numbers_are_the_ends_and_the_neighbours(number, last, shown):
    from django.core.paginator import Paginator

    page = Paginator(range(last * 10), 10).page(number)

    assert page_numbers(page) == shown


def test_the_list_has_numbered_pages_first_and_last(login, personas, app, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for i in range(13):
        add_device(app, f"tok-{i:02d}")

    response = login(personas.member).get(url(personas.org), {"page": 4})

    page = text(response)
    nav = page[page.index('<nav class="pagination"') :]
    nav = nav[: nav.index("</nav>")]
    assert re.findall(r">(\d+)</", nav) == ["1", "2", "3", "4", "5", "6", "7"]
    assert '<span aria-current="page">4</span>' in nav
    assert 'href="?page=1">First' in nav and 'href="?page=7">Last' in nav
    assert 'href="?page=3" rel="prev"' in nav and 'href="?page=5" rel="next"' in nav
    assert "Page 4 of 7 (13 in all)" in nav
    assert tokens(response) == ["tok-06", "tok-05"]


@pytest.mark.parametrize(
    "raw, shown, message",
    [
        ("99", 3, "there is no page 99; this is the last one, 3."),
        ("0", 1, "0 is not a page number."),
        ("-2", 1, "-2 is not a page number."),
        ("abc", 1, "abc is not a page number."),
        ("1e9", 1, "1e9 is not a page number."),
    ],
)
def test_a_page_that_is_not_one_says_so_and_shows_one(
    login, personas, app, monkeypatch, raw, shown, message
):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for i in range(5):
        add_device(app, f"tok-{i}")

    response = login(personas.member).get(url(personas.org), {"page": raw})

    assert response.status_code == 200
    assert response.context["page"].number == shown
    assert message in text(response)
