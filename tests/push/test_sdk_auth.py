"""The SDK API compares the AccessKey whole: a prefix, a truncation or an extension is refused."""

import pytest

from push.models import Device

VARIANTS = ["last character changed", "truncated", "prefix", "extended", "empty"]


def _almost(key):
    return {
        "last character changed": key[:-1] + ("A" if key[-1] != "A" else "B"),
        "truncated": key[:-1],
        "prefix": key[:4],
        "extended": key + "A",
        "empty": "",
    }


def register(client, app, access_key):
    return client.post(
        "/sdk/v1/register",
        {"platform": app.platform},
        content_type="application/json",
        headers={"X-Access-Id": str(app.access_id), "X-Access-Key": access_key},
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_anything_but_the_whole_access_key_is_refused(client, app, variant):
    response = register(client, app, _almost(app.access_key)[variant])

    assert response.status_code == 401
    assert not Device.objects.exists()


def test_the_whole_access_key_is_accepted(client, app):
    assert register(client, app, app.access_key).status_code == 201
