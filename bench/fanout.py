"""Figure 1: an ``all`` push to N devices, vs a raw INSERT … SELECT of the same rows.

The product writes them as it does in production: in chunks of ``FANOUT_CHUNK`` devices, one
transaction each, under the app's fan-out lock; the limit is one statement and one commit.

Both write into a vacuumed push_delivery that does not hold the other side's rows, so neither
pays for bigger indexes or dead rows left by the other.
"""

from django.db import connection, transaction

from push import fanout
from push.models import Push

from .common import cleanup, make_devices, rate, tenant, timer, vacuum_analyze


def run(size: int) -> dict:
    account, app = tenant("fanout")
    try:
        make_devices(app, size)
        t: dict = {}
        push = fanout.accept(
            Push(application=app, audience_type="all", message_type="notify", title="bench")
        )
        vacuum_analyze("push_delivery", "push_device")
        with timer(t, "product"):
            assert fanout.start(push.pk)
        push.refresh_from_db()
        assert push.targets == size, push.targets
        # The limit: the same rows written by one bare statement and committed (the deferred
        # foreign-key checks run at commit, so both sides pay them), then removed again. The
        # product's rows are removed first and vacuumed away: both sides see the same table.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM push_delivery WHERE push_id = %s", [push.pk])
        vacuum_analyze("push_delivery")
        raw = Push.objects.create(
            application=app, audience_type="all", message_type="notify", title="raw"
        )
        with timer(t, "raw"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO push_delivery (push_id, device_id, state, notifications_enabled, "
                "created_at, sent_at, fallback, outcome, outcome_detail, sms_attempts, channel, "
                "send_attempts, channel_message_id, channel_answer, arrival_source, click_source) "
                "SELECT %s, id, 'sent', notifications_enabled, now(), now(), 'none', '', '', 0, "
                "'builtin', 0, '', '', '', '' "
                "FROM push_device WHERE application_id = %s",
                [raw.pk, app.pk],
            )
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM push_delivery WHERE push_id = %s", [raw.pk])
        return {
            "figure": "Fan-out: all push",
            "size": size,
            "value": rate(size, t["product"]),
            "limit": rate(size, t["raw"]),
            "unit": "deliveries/s",
            "goal": "≥ 0.8 of the raw INSERT … SELECT rate",
            "goal_ratio": 0.8,
            "seconds": t["product"],
        }
    finally:
        cleanup(account)
