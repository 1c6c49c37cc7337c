"""Every order the devices list offers is read on an index that starts with the application,
application by application (``lib.paging.merged_rows``): its first page never sorts the
account's devices (1-4 s on a million before these indexes)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from push.forms import DEVICE_SORTS
from push.models import Application, Platform
from tests.push.conftest import add_device

# The index each order's branches walk (push/models.py, Device.Meta).
INDEXES = {
    "registered": "push_device_app_idx",
    "application": "push_device_app_idx",
    "token": "push_device_token",
    "notifications": "push_device_notif_sort_idx",
    "app_version": "push_device_version_sort_idx",
    "last_seen": "push_device_seen_sort_idx",
}


@pytest.fixture
def two_apps(personas, app):
    ios, _ = Application.objects.create_for(personas.org, name="Acme iOS", platform=Platform.IOS)
    for i in range(6):
        add_device(app if i % 2 else ios, f"tok-{i}", app_version=f"1.{i}")
    return app, ios


def page_query(client, personas, sort: str) -> str:
    """The statement that reads the page's order (the one with UNION ALL)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/a/{personas.org.pk}/push/devices/", {"sort": sort})
    assert response.status_code == 200
    [sql] = [q["sql"] for q in queries.captured_queries if "UNION ALL" in q["sql"]]
    return sql


def plan_of(sql: str) -> str:
    with connection.cursor() as cursor:
        # On a small table the planner would read it all; priced out, it says which index
        # serves the order, the question that matters on a million rows.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        # And a sort priced out too: a branch whose order no index gives would still show one
        # (on a tiny table the planner would rather sort a row than walk an index).
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres  # the plan of PostgreSQL's indexes (SET, EXPLAIN)
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("key", list(DEVICE_SORTS))
def test_each_sort_reads_each_application_on_its_index(login, personas, two_apps, key, descending):
    sql = page_query(login(personas.member), personas, f"-{key}" if descending else key)

    plan = plan_of(sql)

    # Both applications' branches walk the order's index, each stopping at the page's end.
    assert plan.count(f"using {INDEXES[key]} on push_device") == 2, plan
    assert "Seq Scan" not in plan, plan
    # No branch sorts its application's devices: a full sort sits only on the merged rows.
    branch_sorts = re.findall(r"->  Sort\b", plan)
    assert len(branch_sorts) <= 1, plan


@pytest.mark.postgres
def test_an_account_with_one_application_reads_its_index_directly(login, personas, app):
    for i in range(3):
        add_device(app, f"tok-{i}", app_version=f"1.{i}")
    with CaptureQueriesContext(connection) as queries:
        login(personas.member).get(f"/a/{personas.org.pk}/push/devices/", {"sort": "app_version"})
    ordered = "ORDER BY 1 ASC, 2 ASC LIMIT"
    found = [q["sql"] for q in queries.captured_queries if ordered in q["sql"]]
    [sql] = found

    plan = plan_of(sql)

    assert "push_device_version_sort_idx" in plan and "Sort" not in plan, plan
