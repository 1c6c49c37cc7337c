import pytest
from django.db import connection

from accounts.models import ApiKeyPair, KeyLimitReached
from tests.conftest import run_concurrently


def all_stored_text(table):
    """Every value of every row of a table, as text, straight from the database."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names only
        return " ".join(str(v) for row in cursor.fetchall() for v in row)


def test_a_new_key_pair_reveals_its_secret_once_and_the_database_never_holds_it(personas):
    key, secret = ApiKeyPair.objects.issue(personas.owner, name="CI")

    assert key.secret_id.startswith("AKID") and len(key.secret_id) == 36
    assert len(secret) == 40
    assert secret not in all_stored_text("accounts_apikeypair")
    assert key.check_secret(secret)
    assert not key.check_secret(secret[:-1] + ("x" if secret[-1] != "x" else "y"))
    assert not hasattr(ApiKeyPair.objects.get(pk=key.pk), "secret_key")


def test_a_user_can_have_two_key_pairs_and_deleting_one_frees_its_place(personas):
    first, _ = ApiKeyPair.objects.issue(personas.owner)
    ApiKeyPair.objects.issue(personas.owner)

    with pytest.raises(KeyLimitReached):
        ApiKeyPair.objects.issue(personas.owner)
    ApiKeyPair.objects.issue(personas.member)  # the limit is per user

    first.delete()
    ApiKeyPair.objects.issue(personas.owner)
    assert ApiKeyPair.objects.filter(user=personas.owner).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_never_yield_a_third_key_pair(personas):
    workers = 8

    def create(i):
        try:
            ApiKeyPair.objects.issue(personas.owner)
            return "created"
        except KeyLimitReached:
            return "refused"

    outcomes = run_concurrently(workers, create)

    assert sorted(outcomes) == ["created"] * 2 + ["refused"] * (workers - 2)
    assert ApiKeyPair.objects.filter(user=personas.owner).count() == 2


def test_the_console_shows_the_secret_on_creation_only(personas, login):
    client = login(personas.owner)

    created = client.post("/keys/", {"name": "deploy"})
    assert created.status_code == 200
    key = ApiKeyPair.objects.get(user=personas.owner)
    secret = created.context["new_secret"]
    assert secret in created.content.decode()
    assert "no-store" in created["Cache-Control"]

    again = client.get("/keys/")
    assert key.secret_id in again.content.decode()
    assert secret not in again.content.decode()
    assert key.masked_secret in again.content.decode()


def test_the_console_refuses_a_third_key_with_a_message(personas, login):
    client = login(personas.owner)
    client.post("/keys/", {"name": "a"})
    client.post("/keys/", {"name": "b"})

    third = client.post("/keys/", {"name": "c"}, follow=True)

    assert "already have 2 API key pairs" in third.content.decode()
    assert ApiKeyPair.objects.filter(user=personas.owner).count() == 2


def test_keys_are_disabled_enabled_and_deleted_by_their_owner_only(personas, login):
    key, _ = ApiKeyPair.objects.issue(personas.owner)

    assert login(personas.outsider).post(f"/keys/{key.pk}/toggle").status_code == 404
    assert login(personas.outsider).post(f"/keys/{key.pk}/delete").status_code == 404

    client = login(personas.owner)
    client.post(f"/keys/{key.pk}/toggle")
    key.refresh_from_db()
    assert key.enabled is False
    client.post(f"/keys/{key.pk}/toggle")
    key.refresh_from_db()
    assert key.enabled is True
    client.post(f"/keys/{key.pk}/delete")
    assert not ApiKeyPair.objects.filter(pk=key.pk).exists()
