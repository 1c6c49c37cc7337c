"""Ids given as text (``lib.ids``): decimal digits that fit a BigIntegerField name an id; anything
else names nothing, and the APIs answer "not found" or "authentication failed", never a 500."""

import pytest

from lib.ids import BIGINT_DIGITS, bigint_id
from tests.conftest import basic_auth


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1500000001", 1500000001),
        ("9" * BIGINT_DIGITS, int("9" * BIGINT_DIGITS)),
        ("9" * (BIGINT_DIGITS + 1), None),  # may overflow a BigIntegerField
        ("", None),
        ("-1", None),
        ("1e3", None),
        ("²", None),  # a digit to str.isdigit(), but not one int() reads
    ],
)
def test_an_id_is_up_to_18_decimal_digits(text, expected):
    assert bigint_id(text) == expected


def test_every_18_digit_number_fits_a_bigint():
    assert int("9" * BIGINT_DIGITS) < 2**63 - 1


@pytest.mark.parametrize("access_id", ["²", "1²"])
def test_an_access_id_with_other_digits_fails_authentication(client, app, access_id):
    sdk = client.post(
        "/sdk/v1/register",
        {"platform": app.platform},
        content_type="application/json",
        headers={"X-Access-Id": access_id, "X-Access-Key": app.access_key},
    )
    tpns = client.post(
        "/v3/push/app",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(access_id, app.test_secret),
    )

    assert sdk.status_code == 401
    assert (tpns.status_code, tpns.json()["ret_code"]) == (200, 1008003)
