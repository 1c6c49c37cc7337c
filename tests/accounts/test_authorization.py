"""The account's Tencent Cloud authorization: stored sealed, never shown, confirmed for real."""

import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from accounts import crypto
from accounts.models import ApiKeyPair, TencentCloudAuthorization
from push.models import Application, Platform
from tests.conftest import SECRET_ID, SECRET_KEY
from tests.fakes.tencentcloud import TencentCloudError


def authorize(client, personas, secret_key=SECRET_KEY):
    return client.post(
        f"/a/{personas.org.pk}/authorization/",
        {"secret_id": SECRET_ID, "secret_key": secret_key},
        follow=True,
    )


def stored_row(account):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM accounts_tencentcloudauthorization WHERE account_id = %s", [account.pk]
        )
        return " ".join(str(v) for v in cursor.fetchone())


def test_the_secret_key_is_sealed_at_rest_and_never_rendered(personas, login):
    client = login(personas.owner)

    page = authorize(client, personas)

    assert SECRET_KEY not in stored_row(personas.org)
    assert SECRET_KEY not in page.content.decode()
    assert "••••••••••••MPLE" in page.content.decode()
    assert SECRET_ID in page.content.decode()
    auth = TencentCloudAuthorization.objects.get(account=personas.org)
    assert auth.secret_key() == SECRET_KEY
    assert (auth.status, auth.authorized_by) == ("unconfirmed", personas.owner)


def test_the_api_never_returns_the_secret_key(client, personas):
    from tests.accounts.test_scoping import api

    c = api(client, personas.owner)
    put = c.put(
        f"/api/v1/accounts/{personas.org.pk}/authorization",
        {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
        content_type="application/json",
    )
    got = c.get(f"/api/v1/accounts/{personas.org.pk}/authorization")

    assert put.status_code == 200 and got.status_code == 200
    assert SECRET_KEY not in put.content.decode() + got.content.decode()
    assert got.json()["secret_id"] == SECRET_ID
    assert got.json()["authorized_by"] == personas.owner.username


def test_confirm_asks_tencent_cloud_with_the_key_pair_and_records_success(cloud, personas, login):
    client = login(personas.owner)
    authorize(client, personas)

    page = client.post(f"/a/{personas.org.pk}/authorization/confirm", follow=True)

    assert "Tencent Cloud accepted the key pair" in page.content.decode()
    [call] = cloud.calls("DescribeSmsSignList")
    assert call.signature_valid and call.secret_id == SECRET_ID
    assert call.region == "ap-guangzhou"
    auth = TencentCloudAuthorization.objects.get(account=personas.org)
    assert auth.status == "confirmed" and auth.checked_at is not None


def test_confirm_shows_tencents_error_when_it_refuses_the_pair(cloud, personas, login):
    client = login(personas.owner)
    authorize(client, personas, secret_key="wrong" + SECRET_KEY[5:])

    page = client.post(f"/a/{personas.org.pk}/authorization/confirm", follow=True)

    text = page.content.decode()
    assert "Tencent Cloud refused the key pair" in text
    assert "AuthFailure.SignatureFailure" in text
    auth = TencentCloudAuthorization.objects.get(account=personas.org)
    assert (auth.status, auth.error_code) == ("refused", "AuthFailure.SignatureFailure")


def test_confirm_keeps_a_non_auth_error_as_a_note_on_a_confirmed_pair(cloud, personas, login):
    def personal_account(params, request):
        raise TencentCloudError("FailedOperation.NotEnterpriseCertification", "not enterprise")

    cloud.on("DescribeSmsSignList", personal_account)
    client = login(personas.owner)
    authorize(client, personas)

    client.post(f"/a/{personas.org.pk}/authorization/confirm")

    auth = TencentCloudAuthorization.objects.get(account=personas.org)
    assert auth.status == "confirmed"
    assert auth.error_code == "FailedOperation.NotEnterpriseCertification"


def test_confirm_changes_nothing_when_tencent_cloud_cannot_be_reached(cloud, personas, login):
    client = login(personas.owner)
    authorize(client, personas)
    cloud.delay = 5  # longer than the client's timeout

    page = client.post(f"/a/{personas.org.pk}/authorization/confirm", follow=True)

    assert "Could not reach Tencent Cloud" in page.content.decode()
    auth = TencentCloudAuthorization.objects.get(account=personas.org)
    assert (auth.status, auth.error_code) == ("unconfirmed", "ClientNetworkError")


def test_a_network_failure_after_confirmation_is_reported_and_keeps_the_verdict(
    cloud, personas, login
):
    client = login(personas.owner)
    authorize(client, personas)
    first = client.post(f"/a/{personas.org.pk}/authorization/confirm", follow=True)
    assert "Tencent Cloud accepted the key pair" in first.content.decode()
    checked_at = TencentCloudAuthorization.objects.get(account=personas.org).checked_at
    cloud.delay = 5  # longer than the client's timeout

    page = client.post(f"/a/{personas.org.pk}/authorization/confirm", follow=True)

    text = page.content.decode()
    assert "Could not reach Tencent Cloud" in text
    assert "accepted the key pair" not in text
    auth = TencentCloudAuthorization.objects.get(account=personas.org)
    assert (auth.status, auth.error_code) == ("confirmed", "ClientNetworkError")
    assert auth.checked_at == checked_at


def test_a_new_key_pair_must_be_confirmed_again(cloud, personas, login):
    client = login(personas.owner)
    authorize(client, personas)
    client.post(f"/a/{personas.org.pk}/authorization/confirm")

    authorize(client, personas)

    assert TencentCloudAuthorization.objects.get(account=personas.org).status == "unconfirmed"


def test_revoke_deletes_the_key_pair(personas, login):
    client = login(personas.owner)
    authorize(client, personas)

    client.post(f"/a/{personas.org.pk}/authorization/revoke")

    assert not TencentCloudAuthorization.objects.filter(account=personas.org).exists()


def test_only_owners_and_admins_change_the_authorization(personas, login):
    client = login(personas.member)

    page = authorize(client, personas)
    confirm = client.post(f"/a/{personas.org.pk}/authorization/confirm")
    revoke = client.post(f"/a/{personas.org.pk}/authorization/revoke")

    assert "Only owners and admins" in page.content.decode()
    assert confirm.status_code == 403 and revoke.status_code == 403
    assert not TencentCloudAuthorization.objects.filter(account=personas.org).exists()


def test_rotating_encryption_keys_reseals_every_secret(personas, settings):
    personas.org.authorize_tencent_cloud(secret_id=SECRET_ID, secret_key=SECRET_KEY, by=None)
    key, key_secret = ApiKeyPair.objects.issue(personas.owner, name="CI")
    app, app_secret = Application.objects.create_for(
        personas.org, name="Acme Android", platform=Platform.ANDROID
    )
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone

    assert "TencentCloudAuthorization.secret_key_sealed: 1 re-sealed" in out.getvalue()
    assert "accounts.ApiKeyPair.secret_sealed: 1 re-sealed" in out.getvalue()
    assert "push.Application.secret_sealed: 1 re-sealed" in out.getvalue()
    assert TencentCloudAuthorization.objects.get(account=personas.org).secret_key() == SECRET_KEY
    resealed_key = ApiKeyPair.objects.get(pk=key.pk)
    resealed_app = Application.objects.get(pk=app.pk)
    assert resealed_key.secret_sealed != key.secret_sealed
    assert resealed_app.secret_sealed != app.secret_sealed
    assert crypto.unseal(resealed_key.secret_sealed) == key_secret
    assert resealed_app.secret_key() == app_secret
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    for sealed in (
        TencentCloudAuthorization.objects.get().secret_key_sealed,
        resealed_key.secret_sealed,
        resealed_app.secret_sealed,
    ):
        with pytest.raises(InvalidToken, match="FIELD_ENCRYPTION_KEYS"):
            crypto.unseal(sealed)


def test_secrets_never_reach_the_logs(cloud, personas, login, caplog):
    caplog.set_level("DEBUG")
    client = login(personas.owner)
    authorize(client, personas, secret_key="wrong" + SECRET_KEY[5:])
    client.post(f"/a/{personas.org.pk}/authorization/confirm")
    created = client.post("/keys/", {"name": "x"})
    client.get("/api/v1/me", HTTP_AUTHORIZATION="Basic QUtJRHg6c2VjcmV0")

    new_secret = created.context["new_secret"]
    assert new_secret
    assert caplog.records  # something was logged, so the checks below are not vacuous
    logged = caplog.text
    assert SECRET_KEY[5:] not in logged
    assert "QUtJRHg6c2VjcmV0" not in logged
    assert new_secret not in logged
