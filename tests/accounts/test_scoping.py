"""Every page and API object is scoped to the caller's accounts and role."""

import pytest

from accounts.models import ApiKeyPair
from tests.conftest import basic_auth


def api(client, user):
    key, secret = ApiKeyPair.objects.issue(user)
    client.defaults["HTTP_AUTHORIZATION"] = basic_auth(key.secret_id, secret)
    return client


@pytest.mark.parametrize("page", ["", "authorization/"])
def test_an_outsider_gets_404_for_another_accounts_pages(personas, login, page):
    response = login(personas.outsider).get(f"/a/{personas.org.pk}/{page}")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "accounts/{id}/"),
        ("patch", "accounts/{id}/"),
        ("get", "accounts/{id}/members/"),
        ("get", "accounts/{id}/authorization"),
        ("put", "accounts/{id}/authorization"),
        ("delete", "accounts/{id}/authorization"),
        ("post", "accounts/{id}/authorization/confirm"),
    ],
)
def test_an_outsider_gets_404_for_another_accounts_api_objects(client, personas, method, path):
    response = getattr(api(client, personas.outsider), method)(
        "/api/v1/" + path.format(id=personas.org.pk), {}, content_type="application/json"
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_account_list_holds_only_the_callers_accounts(client, personas):
    response = api(client, personas.member).get("/api/v1/accounts/")

    assert [(a["name"], a["role"]) for a in response.json()] == [("Acme", "operator")]


def test_a_member_below_admin_cannot_change_the_account_or_its_authorization(client, personas):
    c = api(client, personas.member)
    org = personas.org.pk

    patched = c.patch(f"/api/v1/accounts/{org}/", {"name": "x"}, content_type="application/json")
    put = c.put(
        f"/api/v1/accounts/{org}/authorization",
        {"secret_id": "AKIDx", "secret_key": "y"},
        content_type="application/json",
    )

    assert patched.status_code == 403 and put.status_code == 403
    assert "Admin role" in patched.json()["error"]["message"]


def test_a_member_sees_the_accounts_pages(personas, login):
    client = login(personas.member)

    assert client.get(f"/a/{personas.org.pk}/").status_code == 200
    assert client.get(f"/a/{personas.org.pk}/authorization/").status_code == 200


def test_bad_input_names_the_field_and_changes_nothing(client, personas):
    response = api(client, personas.owner).patch(
        f"/api/v1/accounts/{personas.org.pk}/",
        {"name": "Renamed", "time_zone": "Mars/Olympus_Mons"},
        content_type="application/json",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith("time_zone:")
    assert list(error["fields"]) == ["time_zone"]
    personas.org.refresh_from_db()
    assert (personas.org.name, personas.org.time_zone) == ("Acme", "Asia/Shanghai")


def test_home_goes_to_the_account_used_last(personas, login):
    from accounts.models import Membership, Role

    Membership.objects.create(user=personas.owner, account=personas.individual, role=Role.VIEWER)
    client = login(personas.owner)
    client.get(f"/a/{personas.individual.pk}/")

    assert client.get("/").url == f"/a/{personas.individual.pk}/"


def test_viewing_the_same_account_again_does_not_rewrite_the_session(personas, login, monkeypatch):
    from django.contrib.sessions.backends.db import SessionStore

    client = login(personas.owner)
    client.get(f"/a/{personas.org.pk}/")
    saves = []
    original_save = SessionStore.save
    monkeypatch.setattr(
        SessionStore,
        "save",
        lambda self, *a, **kw: saves.append(1) or original_save(self, *a, **kw),
    )

    client.get(f"/a/{personas.org.pk}/")
    assert saves == []
    client.get(f"/a/{personas.outsider_account.pk}/")  # 404: not a member, nothing remembered
    assert saves == []

    from accounts.models import Membership, Role

    Membership.objects.create(user=personas.owner, account=personas.individual, role=Role.VIEWER)
    client.get(f"/a/{personas.individual.pk}/")
    assert saves == [1]
    assert client.session["account_id"] == personas.individual.pk


def test_a_user_without_accounts_is_told_so(db, login):
    from tests.conftest import make_user

    response = login(make_user("nobody")).get("/")

    assert response.status_code == 200
    assert "not a member of any account" in response.content.decode()
