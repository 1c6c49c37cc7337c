"""The console shell: log in, land on an account, demo data, health, API docs."""

import io
import re

from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import Account, Membership
from tests.conftest import PASSWORD


def test_logging_in_lands_on_the_users_account(client, personas):
    page = client.post("/login/", {"username": "olivia", "password": PASSWORD}, follow=True)

    assert page.redirect_chain[-1][0] == f"/a/{personas.org.pk}/"
    text = page.content.decode()
    assert "Acme" in text and "Organization" in text and "max" in text


def test_pages_need_a_login(client, personas):
    assert client.get(f"/a/{personas.org.pk}/").url.startswith("/login/")
    assert client.get("/keys/").url.startswith("/login/")


def test_the_demo_data_is_created_once(db):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)

    assert Account.objects.filter(name="Demo Organization").count() == 1
    demo = get_user_model().objects.get(username="demo")
    assert demo.check_password("demo-pushconsole")
    assert Membership.objects.get(user=demo).role == "owner"
    assert "already there" in out.getvalue()
    # The demo app's SecretKey is printed on the first run only.
    assert len(re.findall(r"SecretKey [0-9a-f]{32}", out.getvalue())) == 1


def test_health_reports_database_broker_and_sweep_age(client, db):
    from push.models import SweepRun

    response = client.get("/healthz")
    stale = client.get("/healthz", {"require": "sweep"})
    SweepRun.record("fallback", {"batches": 0})
    fresh = client.get("/healthz", {"require": "sweep"})

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "database": "ok",
        "broker": "ok",
        "fallback_sweep_age_seconds": None,
    }
    assert stale.status_code == 503
    assert fresh.status_code == 200 and fresh.json()["fallback_sweep_age_seconds"] == 0


def test_health_reports_a_broker_that_does_not_answer(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 503 and response.json()["broker"].startswith("error")


def test_the_openapi_schema_documents_the_api(client, personas, login):
    schema = client.get("/api/v1/schema/?format=json")
    docs = login(personas.owner).get("/api/v1/docs/")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/accounts/{account_id}/authorization" in paths
    assert "/api/v1/me" in paths
    assert docs.status_code == 200


def test_the_task_schedules_exist_after_migrate(db):
    from django_q.models import Schedule

    from pushconsole.schedules import SCHEDULES

    assert Schedule.objects.filter(func="pushconsole.tasks.clean_task_results").count() == 1
    stored = set(Schedule.objects.values_list("name", "func", "schedule_type", "minutes"))
    expected = {(name, *spec) for name, spec in SCHEDULES.items()}
    assert stored == expected


def test_the_openapi_schema_is_valid_and_complete():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

    assert "apiKeySignature" in out.getvalue()
