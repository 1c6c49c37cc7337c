"""The sweep's claim: two workers claiming at the same moment never take the same delivery.

The engine's later checks (one live SMS per delivery, the per-number locks) would still stop a
second SMS, so the tests of the whole sweep pass even with a claim that hands one delivery to
two workers. This test holds one worker's claim open on a real connection and claims again on
another: the second claim must skip the rows the first holds, not wait for them and then take
them again.
"""

import threading

import pytest

from push import fallback
from tests.push.conftest import add_device
from tests.push.test_fallback import due, sms_push

HOLD = 5  # seconds the first claim stays open at most while the second one runs


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_the_rows_another_worker_is_claiming(app, sms):
    tokens = [f"tok-{i:02d}" for i in range(10)]
    for i, token in enumerate(tokens):
        add_device(app, token, phone=f"+8613700000{i:03d}")
    now = due(sms_push(app, tokens))

    first_claimed = threading.Event()
    second_done = threading.Event()
    claims: dict[str, set[int]] = {}
    second_finished_while_first_open = []

    def first():
        from django.db import connection, transaction

        try:
            with transaction.atomic():
                claims["first"] = {c.id for c in fallback.claim(now, limit=5)}
                first_claimed.set()
                # Hold the claim (its row locks) open until the second claim has answered,
                # or for HOLD seconds if it waits on our rows instead of skipping them.
                second_finished_while_first_open.append(second_done.wait(HOLD))
        finally:
            connection.close()

    def second():
        from django.db import connection

        try:
            first_claimed.wait(HOLD)
            claims["second"] = {c.id for c in fallback.claim(now, limit=5)}
            second_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(claims["first"]) == 5
    assert claims["first"].isdisjoint(claims["second"]), "a delivery was claimed twice"
    assert len(claims["second"]) == 5
    assert second_finished_while_first_open == [True], "the second claim waited for the first"
