"""Differential fuzzing of the long-poll server (``push.sdk.longpoll``): spoilt polls — odd
tokens, cursors, waits, access ids and keys, repeated and unknown parameters — sent to the poll
server under uvicorn and to the web application must get the same answer (status and body),
never a 5xx. The device always has a notification, and every ``wait`` Hypothesis can draw is
0 or invalid, so no poll waits."""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.push.conftest import add_device
from tests.push.test_longpoll import Clock, PollServer, push_to

pytestmark = [pytest.mark.django_db(transaction=True)]

TOKENS = ["tok-a"] * 6 + ["", "tok-unknown", "x" * 600, "tok a", "tok-a\n", "\x00", "tök", "tok-a "]
AFTERS = ["0"] * 3 + ["", "-1", "x", "1e3", "99999999999999999999999", "٣", " 0", "0.0", "1.5"]
WAITS = ["0"] * 3 + ["", "-1", "31", "x", "1.5", "٠", "00", "1e1"]


def access_ids(app):
    good = str(app.access_id)
    return [good] * 6 + ["", "abc", "-1", "9" * 30, good + "0", "0x10"]


def keys(app):
    return [app.access_key] * 6 + ["", "wrong", app.access_key[:-1], app.access_key + "x"]


@pytest.fixture
def world(app, settings_override):
    add_device(app, "tok-a")
    push_to(app, ["tok-a"])
    with PollServer(Clock()) as server:
        yield app, server


@pytest.fixture
def settings_override(settings):
    settings.API_AUTH_FAILURE_LIMIT = 10**9  # both sides count: no lockout halfway through


def test_the_poll_server_answers_spoilt_polls_as_the_web_application_does(world, client, tally):
    app, server = world
    params = st.lists(
        st.one_of(
            st.tuples(st.just("token"), st.sampled_from(TOKENS)),
            st.tuples(st.just("after"), st.sampled_from(AFTERS)),
            st.tuples(st.just("wait"), st.sampled_from(WAITS)),
            st.tuples(st.sampled_from(["x", "Token", "token[]"]), st.text(max_size=5)),
        ),
        min_size=1,
        max_size=5,
    )
    headers = st.fixed_dictionaries(
        {},
        optional={
            "X-Access-Id": st.sampled_from(access_ids(app)),
            "X-Access-Key": st.sampled_from(keys(app)),
        },
    )

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(params=params, headers=headers)
    def case(params, headers):
        # Polls that could wait (a valid wait above 0) are not drawn: see the module.
        ours = httpx.get(
            f"{server.url}/sdk/v1/messages", params=params, headers=headers, timeout=20
        )
        web = client.get("/sdk/v1/messages", _querydict(params), headers=headers)
        tally["poll server vs web: GET /sdk/v1/messages"]["cases"] += 1
        assert ours.status_code < 500
        assert (ours.status_code, ours.json()) == (web.status_code, web.json()), params
        if ours.status_code == 200:
            tally["poll server vs web: GET /sdk/v1/messages"]["2xx"] += 1

    case()
    assert server.hub.waiting == {}


def _querydict(params):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for name, value in params:
        query.appendlist(name, value)
    return query
