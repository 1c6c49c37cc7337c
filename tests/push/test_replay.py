"""A signed TPNS request is accepted once: the same /v3/push/app three times is one push."""

import pytest
from django.test import Client

from push.models import Push
from tests.conftest import run_concurrently
from tests.push.test_tpns_auth import VECTOR_BODY, VECTOR_TIMESTAMP, make_vector_app, signed


@pytest.fixture
def vector_app(personas):
    return make_vector_app(personas)


def test_the_same_signed_push_sent_three_times_creates_one_push(client, vector_app, clock, store):
    clock(VECTOR_TIMESTAMP + 10)

    answers = [signed(client, VECTOR_BODY) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["ret_code"] for a in answers] == [0, 1008003, 1008003]
    assert answers[1].json()["err_msg"] == (
        "authentication failed: this signature was already used; sign every request anew"
    )
    assert Push.objects.count() == 1


def test_a_replay_is_refused_until_the_window_ends_and_then_as_stale(
    client, vector_app, clock, store
):
    clock(VECTOR_TIMESTAMP - 300)
    assert signed(client, VECTOR_BODY).json()["ret_code"] == 0

    clock(VECTOR_TIMESTAMP + 300)  # the far edge of the window: still remembered
    late = signed(client, VECTOR_BODY).json()
    clock(VECTOR_TIMESTAMP + 301)
    stale = signed(client, VECTOR_BODY).json()

    assert late["ret_code"] == stale["ret_code"] == 1008003
    assert "already used" in late["err_msg"] and "300 seconds" in stale["err_msg"]
    assert Push.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_eight_concurrent_identical_pushes_exactly_one_is_created(vector_app, clock, store):
    clock(VECTOR_TIMESTAMP)

    codes = run_concurrently(8, lambda i: signed(Client(), VECTOR_BODY).json()["ret_code"])

    assert sorted(codes) == [0] + [1008003] * 7
    assert Push.objects.count() == 1
