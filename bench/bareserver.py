"""The limit of the long-poll benchmark's ``all`` push (``bench.longpoll``): the machine's own
cost of answering every waiting phone at once and taking their next polls, with nothing of ours
in between: no database, no authentication, no inbox, no rendering.

``python -m bench.bareserver PORT``: uvicorn, configured as ``manage.py runpoll`` is (uvloop,
httptools, the same backlog, no proxy headers), serving a bare ASGI application.
``GET /sdk/v1/messages`` with ``after`` below the current round is answered at once with one
message of the round; otherwise it waits for the next round. ``POST /release`` starts a new
round: every waiting poll is answered (a body of the size of a real one-notification answer),
and the phones' next polls wait again. ``GET /healthz/poll`` says how many wait, as the real
server does. The same load generator (``bench.pollclient``) reads the answers, on the same
cores.
"""

import asyncio
import json
import sys
from urllib.parse import parse_qs

import uvicorn

MESSAGE = {  # the shape and size of a real one-notification answer's message
    "id": 0,
    "push_id": "",
    "message_type": "notify",
    "title": "Maintenance tonight",
    "content": "The service pauses at 02:00",
    "custom_content": {},
    "sent_at": "2026-12-01T12:00:00.000000+00:00",
    "expires_at": "2026-12-02T12:00:00.000000+00:00",
}


class Rounds:
    def __init__(self):
        self.number = 0
        self.next = asyncio.Event()
        self.waiting = 0

    def release(self) -> None:
        self.number += 1
        released, self.next = self.next, asyncio.Event()
        released.set()


rounds: Rounds | None = None


async def answer(send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def round_body(number: int) -> bytes:
    message = {**MESSAGE, "id": number, "push_id": f"bare-{number}"}
    return json.dumps({"messages": [message], "next": number}).encode()


async def app(scope, receive, send):
    global rounds
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                rounds = Rounds()
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                rounds.release()
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/release":
        rounds.release()
        await answer(send, 200, b'{"round": %d}' % rounds.number)
    elif path == "/healthz/poll":
        await answer(send, 200, json.dumps({"waiting": rounds.waiting}).encode())
    elif path == "/sdk/v1/messages":
        query = parse_qs(scope["query_string"].decode())
        after = int(query.get("after", ["0"])[0] or 0)
        if after >= rounds.number:
            await receive()  # the request; the next event is its disconnect
            rounds.waiting += 1
            released = asyncio.ensure_future(rounds.next.wait())
            gone = asyncio.ensure_future(receive())
            try:
                await asyncio.wait([released, gone], return_when=asyncio.FIRST_COMPLETED)
            finally:
                rounds.waiting -= 1
                released.cancel()
                gone.cancel()
            if not released.done() or released.cancelled():
                return  # the phone hung up (a stopping load generator)
        if rounds.number > after:
            await answer(send, 200, round_body(rounds.number))
        else:
            await answer(send, 200, json.dumps({"messages": [], "next": after}).encode())
    else:
        await answer(send, 404, b"{}")


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        backlog=4096,
        access_log=False,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,
    )
