"""The Tencent Cloud authorization: the key pair's shape is checked before it is stored, and a
Confirm that cannot reach Tencent Cloud says so in a sentence, in the console and the API.

The shape: Tencent's documented example pair (tests.conftest.SECRET_ID / SECRET_KEY) is "AKID" +
32 letters and digits, and 32 letters and digits; longer keys of that alphabet are let through.
"""

import socket

import pytest
from django.test import Client

from accounts.models import TencentCloudAuthorization
from tests.accounts.test_scoping import api
from tests.conftest import SECRET_ID, SECRET_KEY

# What urllib3 / the SDK would have put on the page.
LIBRARY_WORDS = ["HTTPConnectionPool", "Max retries", "Errno", "urllib3", "object at 0x"]

BAD_SECRET_IDS = [
    SECRET_ID[:-1],  # one character short: a truncated paste
    "akid" + SECRET_ID[4:],  # not AKID
    SECRET_ID[:10] + " " + SECRET_ID[11:],  # a space inside
    SECRET_ID[:-1] + "。",  # a character that is no letter or digit
    SECRET_KEY,  # the two fields swapped
    "my secret id",
]
BAD_SECRET_KEYS = [
    SECRET_KEY[:-1],
    SECRET_KEY[:5] + "-" + SECRET_KEY[6:],
    SECRET_ID,  # swapped
    "hunter2",
]


def console_authorize(client, personas, secret_id=SECRET_ID, secret_key=SECRET_KEY):
    return client.post(
        f"/a/{personas.org.pk}/authorization/",
        {"secret_id": secret_id, "secret_key": secret_key},
        follow=True,
    )


def api_authorize(client, personas, secret_id=SECRET_ID, secret_key=SECRET_KEY):
    return client.put(
        f"/api/v1/accounts/{personas.org.pk}/authorization",
        {"secret_id": secret_id, "secret_key": secret_key},
        content_type="application/json",
    )


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the shape -------------------------------------------------------------------------------


@pytest.mark.parametrize("secret_id", BAD_SECRET_IDS)
def test_the_console_refuses_a_secret_id_that_cannot_be_one(login, personas, secret_id):
    page = console_authorize(login(personas.owner), personas, secret_id=secret_id)

    errors = page.context["form"].errors
    assert list(errors) == ["secret_id"]
    assert "starts with AKID" in errors["secret_id"][0]
    assert not TencentCloudAuthorization.objects.exists()


@pytest.mark.parametrize("secret_key", BAD_SECRET_KEYS)
def test_the_console_refuses_a_secret_key_that_cannot_be_one(login, personas, secret_key):
    page = console_authorize(login(personas.owner), personas, secret_key=secret_key)

    errors = page.context["form"].errors
    assert list(errors) == ["secret_key"]
    assert "SecretKey is 32 letters and digits" in errors["secret_key"][0]
    if secret_key != SECRET_ID:  # (the SecretId field shows its own value again)
        assert secret_key not in page.content.decode()  # a secret is never echoed
    assert not TencentCloudAuthorization.objects.exists()


def test_swapped_fields_are_named_as_such(login, personas):
    page = console_authorize(
        login(personas.owner), personas, secret_id=SECRET_KEY, secret_key=SECRET_ID
    )

    errors = page.context["form"].errors
    assert "are the two fields swapped?" in errors["secret_id"][0]
    assert "are the two fields swapped?" in errors["secret_key"][0]


@pytest.mark.parametrize(
    "secret_id, secret_key",
    [
        (SECRET_ID, SECRET_KEY),  # Tencent's example: 36 and 32
        (" " + SECRET_ID + "\n", SECRET_KEY + " "),  # pasted with blanks around
        ("AKID" + "x1" * 18, "k2" * 20),  # longer ones of the same alphabet
    ],
)
def test_real_shaped_key_pairs_are_accepted(login, personas, secret_id, secret_key):
    page = console_authorize(login(personas.owner), personas, secret_id, secret_key)

    assert "Key pair saved" in page.content.decode()
    auth = TencentCloudAuthorization.objects.get(account=personas.org)
    assert (auth.secret_id, auth.secret_key()) == (secret_id.strip(), secret_key.strip())


@pytest.mark.parametrize(
    "field, value",
    [("secret_id", v) for v in BAD_SECRET_IDS] + [("secret_key", v) for v in BAD_SECRET_KEYS],
)
def test_the_api_refuses_a_key_pair_of_the_wrong_shape_naming_the_field(
    client, personas, field, value
):
    response = api_authorize(api(client, personas.owner), personas, **{field: value})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert value not in response.content.decode()  # a secret is never echoed
    assert not TencentCloudAuthorization.objects.exists()


def test_the_api_accepts_tencents_example_pair(client, personas):
    assert api_authorize(api(client, personas.owner), personas).status_code == 200


# -- Confirm when Tencent Cloud cannot be reached --------------------------------------------


def test_confirm_with_nothing_listening_says_connection_refused(
    login, personas, settings, closed_port
):
    settings.TENCENTCLOUD_SMS_ENDPOINT = f"http://127.0.0.1:{closed_port}"
    client = login(personas.owner)
    console_authorize(client, personas)

    page = client.post(f"/a/{personas.org.pk}/authorization/confirm", follow=True)

    text = page.content.decode()
    assert (
        "Could not reach Tencent Cloud (connection refused); check the network and try again."
        in text
    )
    assert not [word for word in LIBRARY_WORDS if word in text]
    auth = TencentCloudAuthorization.objects.get(account=personas.org)
    assert (auth.status, auth.error_code) == ("unconfirmed", "ClientNetworkError")


def test_the_api_confirm_with_nothing_listening_says_connection_refused(
    personas, settings, closed_port
):
    settings.TENCENTCLOUD_SMS_ENDPOINT = f"http://127.0.0.1:{closed_port}"
    client = api(Client(), personas.owner)
    api_authorize(client, personas)

    response = client.post(f"/api/v1/accounts/{personas.org.pk}/authorization/confirm")

    body = response.json()
    assert (body["status"], body["error_code"]) == ("unconfirmed", "ClientNetworkError")
    assert body["error_message"] == (
        "Could not reach Tencent Cloud (connection refused); check the network and try again."
    )


def test_confirm_that_times_out_says_so(cloud, login, personas, settings):
    settings.TENCENTCLOUD_TIMEOUT = 0.5
    cloud.delay = 5  # longer than the client's timeout
    client = login(personas.owner)
    console_authorize(client, personas)

    page = client.post(f"/a/{personas.org.pk}/authorization/confirm", follow=True)
    api_view = api(Client(), personas.owner).get(
        f"/api/v1/accounts/{personas.org.pk}/authorization"
    )

    text = page.content.decode()
    assert "Could not reach Tencent Cloud (the connection timed out)" in text
    assert not [word for word in LIBRARY_WORDS if word in text]
    assert api_view.json()["error_message"].startswith(
        "Could not reach Tencent Cloud (the connection timed out)"
    )


def test_confirm_through_the_fake_still_confirms_a_good_pair(cloud, login, personas):
    client = login(personas.owner)
    console_authorize(client, personas)

    page = client.post(f"/a/{personas.org.pk}/authorization/confirm", follow=True)

    assert "Tencent Cloud accepted the key pair" in page.content.decode()
    assert cloud.calls("DescribeSmsSignList")
