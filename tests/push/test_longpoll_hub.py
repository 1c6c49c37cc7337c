"""The long-poll hub's own rules, without a server in front: what it answers itself, and in what
order it does its work."""

import asyncio

from push.sdk import longpoll

SCOPE = {"type": "http", "method": "GET", "path": "/sdk/v1/messages", "headers": []}


def poll_of(query_string: bytes, future=None) -> longpoll.Poll:
    return longpoll.Poll({**SCOPE, "query_string": query_string}, 0, future)


def test_a_query_string_that_is_not_utf8_is_a_400_from_the_hub_itself():
    """uvicorn refuses such a request line before the hub sees it; another ASGI server may
    not, and Django's request cannot even be built for it: a 400, as Django's ASGI handler
    answers, not an error in the round."""
    answer = longpoll.Hub(listen=False)._by_the_web(poll_of(b"token=t\xff&wait=30"))

    assert answer.status == 400


def test_new_polls_are_admitted_once_the_answers_before_them_are_written():
    """After a broadcast's answers are set, the phones' next polls wait (at most
    DRAIN_SECONDS) until those answers are written: admitting them first would take the
    interpreter from the event loop that writes the answers."""

    async def main():
        loop = asyncio.get_running_loop()
        hub = longpoll.Hub(listen=False)
        asked = []
        hub._ask = lambda arrived, again, now: (asked.append(len(arrived)), ([], []))[1]
        answered = poll_of(b"token=a", loop.create_future())
        hub._answer(answered, longpoll.empty(answered))  # set, not yet written
        hub.arrived.append(poll_of(b"token=b", loop.create_future()))

        round_ = asyncio.create_task(hub.round())
        await asyncio.sleep(0.1)
        waited = list(asked)
        hub.unsent.discard(answered)  # as Hub.handle does once the answer is written
        hub.drained.set()
        await round_
        hub.database.shutdown(wait=True)
        return waited, asked

    waited, asked = asyncio.run(main())

    assert waited == []  # nothing admitted while the answer waited to be written
    assert asked == [1]  # then the new poll was
