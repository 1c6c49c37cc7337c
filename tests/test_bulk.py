"""The set-based helpers of the hot paths: ``field__any`` and the array inserts and updates."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from push.models import Device, DeviceAccount
from sms import bulk
from sms.models import SmsMessage
from tests.push.conftest import add_device


def test_any_matches_like_in_for_plain_and_foreign_key_fields(app):
    a, b, c = (add_device(app, f"tok-{i}", phone=f"+8613700000{i:03d}") for i in range(3))

    assert set(Device.objects.filter(pk__any=[a.pk, c.pk])) == {a, c}
    assert list(Device.objects.filter(pk__any=[])) == []
    phones = DeviceAccount.objects.filter(device_id__any=[b.pk]).values_list("account", flat=True)
    assert list(phones) == ["+8613700000001"]
    assert set(Device.objects.filter(token__any=["tok-1", "nope"])) == {b}


@pytest.mark.postgres  # SQLite gets the ordinary IN list
def test_any_sends_one_parameter_whatever_the_length_of_the_list(app):
    with CaptureQueriesContext(connection) as queries:
        list(Device.objects.filter(pk__any=list(range(1, 1001))))
    assert queries[0]["sql"].count("ANY(") == 1
    assert "1000" in queries[0]["sql"] and "%s" not in queries[0]["sql"]


def test_rows_are_inserted_with_common_values_and_defaults_then_updated(personas):
    account = personas.org
    common = {"account_id": account.pk, "region": "mainland", "content": "x", "fee": 2}
    numbers = ["+8613700000001", "+8613700000002"]

    pks = bulk.insert_rows(
        SmsMessage, common, {"phone_number": numbers, "source_id": [11, None], "charged": [2, 0]}
    )
    changed = bulk.update_rows(
        SmsMessage, pks, {"state": ["sent", "failed"], "serial_no": ["s1", ""]}
    )

    assert changed == 2
    rows = list(
        SmsMessage.objects.filter(pk__in=pks)
        .order_by("pk")
        .values_list("phone_number", "source_id", "charged", "fee", "state", "serial_no", "reason")
    )
    assert rows == [
        ("+8613700000001", 11, 2, 2, "sent", "s1", ""),
        ("+8613700000002", None, 0, 2, "failed", "", ""),
    ]
    assert bulk.insert_rows(SmsMessage, common, {"phone_number": []}) == []
    assert bulk.update_rows(SmsMessage, [], {"state": []}) == 0


@pytest.mark.postgres
def test_array_literals_round_trip_awkward_values(personas):
    """Every value the hot paths bind as an array literal comes back unchanged."""
    from datetime import UTC, datetime

    from lib.pgarrays import literal

    texts = ['a"b', "c\\d", "", "NULL", "x,y", "{}", " sp ", "中文", "+8613700000001"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::varchar[]", [literal(texts)])
        assert cursor.fetchone()[0] == texts
        at = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
        cursor.execute(
            "SELECT %s::bigint[], %s::boolean[], %s::timestamptz[]",
            [literal([1, -2, None]), literal([True, False, None]), literal([at, None])],
        )
        assert cursor.fetchone() == ([1, -2, None], [True, False, None], [at, None])
        # Strings with NULLs, repeated values, str subclasses (choices), an empty list.
        states = [SmsMessage.State.SENT, SmsMessage.State.SENT, "x", None]
        cursor.execute(
            "SELECT %s::varchar[], %s::varchar[], %s::timestamptz[], %s::bigint[]",
            [literal(['a"', None, "a\\"]), literal(states), literal([at, at, None]), literal([])],
        )
        assert cursor.fetchone() == (
            ['a"', None, "a\\"],
            ["sent", "sent", "x", None],
            [at, at, None],
            [],
        )
    with pytest.raises(ValueError, match="NUL"):
        literal(["a\0b"])
    numbers = ['+86137"1', "+86137\\2"]
    pks = bulk.insert_rows(
        SmsMessage,
        {"account_id": personas.org.pk, "region": "mainland", "content": "x"},
        {"phone_number": numbers},
    )
    found = SmsMessage.objects.filter(phone_number__any=numbers).values_list("pk", flat=True)
    assert sorted(found) == sorted(pks)
