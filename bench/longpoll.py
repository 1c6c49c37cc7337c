"""The built-in channel at scale: ``size`` phones long-polling (``wait=25``) the long-poll
server (``manage.py runpoll``, as deployed) while the push API runs under gunicorn (2 workers
of 16 threads) beside it.

Measured, in one run: the push API's p50 (one-token pushes) and /healthz with nobody waiting,
then with every phone waiting; how long after a push's commit its phone hears of it, for
single-device pushes and for one ``all`` push to every waiting phone; and how many database
connections the waiting phones hold. The limit of the wake-up rows is PostgreSQL's own
NOTIFY → LISTEN latency on loopback, measured bare in the same run.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from django.db import connection
from django.utils import timezone

from push import fanout
from push.models import Push

from .common import cleanup, free_port, gunicorn, make_devices, server_env, tenant, token

ROOT = Path(__file__).resolve().parents[1]
WAIT = 25
APP_NAME = "pushconsole-bench-poll"  # the poll server's connections, by application_name
SINGLE_PUSHES = 200


def run(size: int) -> list[dict]:
    account, app = tenant("longpoll")
    work = Path(tempfile.mkdtemp(prefix="bench-longpoll-"))
    try:
        make_devices(app, size)
        tokens = [token(i) for i in range(size)]
        (work / "tokens").write_text("\n".join(tokens))
        pushes = min(SINGLE_PUSHES, size)
        with gunicorn(threads=16) as (base, session), poll_server() as poll_base:
            auth = (str(app.access_id), app.secret_key())
            push_api(session, base, auth, [tokens[0]] * 5)  # warm-up
            idle_api = push_api(session, base, auth, tokens[-pushes:])
            idle_health = healthz(session, base, 20)
            with phones(poll_base, (str(app.access_id), app.access_key), work, size) as generator:
                wait_for(session, poll_base, size)
                connections = poll_connections()
                busy_api, busy_health, sent = [], [], {}
                for i in range(pushes):
                    push_id, took = push_one(session, base, auth, tokens[i])
                    busy_api.append(took)
                    sent[push_id] = time.time()
                    if i % 10 == 0:
                        busy_health += healthz(session, base, 1)
                    time.sleep(0.02)
                busy_health += healthz(session, base, 10)
                generator.wait_for_answers(pushes, timeout=10)
                before = generator.answered
                broadcast, committed = broadcast_to_all(app)
                generator.wait_for_answers(before + size)
            single, everyone = wake_ups(generator.answers(), sent, broadcast, committed)
        notify = bare_notify(200)
        bare = bare_all(work, size)
    finally:
        cleanup(account)

    def ms(values, q=None):
        if not values:
            return float("nan")
        if q is None:
            return statistics.median(values) * 1000
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000

    notify50, notify99 = ms(notify), ms(notify, 99)
    missing = pushes - len(single)
    note = (
        f"{pushes} one-token pushes while {size:,} phones waited; {missing} not heard of; "
        f"limit: bare NOTIFY → LISTEN p50 {notify50:.1f} ms (p99 {notify99:.1f} ms)"
    )
    return [
        {
            "figure": f"Long poll: a push heard of after its commit, {size:,} waiting, p50",
            "size": size,
            "value": ms(single),
            "limit": notify50,
            "unit": "ms",
            "goal": "p50 ≤ 100 ms",
            "goal_max": 100,
            "note": note,
        },
        {
            "figure": f"Long poll: a push heard of after its commit, {size:,} waiting, p99",
            "size": size,
            "value": ms(single, 99),
            "limit": notify99,
            "unit": "ms",
            "goal": "p99 ≤ 1 s",
            "goal_max": 1000,
            "note": note,
        },
        {
            "figure": f"Long poll: an all push heard of by all {size:,} waiting, p99",
            "size": size,
            "value": ms(everyone, 99),
            "limit": ms(bare, 99),
            "unit": "ms",
            "goal": "p99 ≤ 1 s",
            "goal_max": 1000,
            "note": f"p50 {ms(everyone):.0f} ms, max {max(everyone, default=0) * 1000:.0f} ms; "
            f"{size - len(everyone)} not heard of; from the fan-out's commit (one chunk) to "
            "each phone's answer, read by one load-generator process on the same 2 cores. "
            f"Limit: the same phones answered at once by a bare uvicorn app (bench.bareserver), "
            f"p99 {ms(bare, 99):.0f} ms (p50 {ms(bare):.0f} ms, max "
            f"{max(bare, default=0) * 1000:.0f} ms; {size - len(bare)} not answered)",
        },
        {
            "figure": f"Push API: /v3/push/app, 1 token, p50 while {size:,} phones wait",
            "size": pushes,
            "value": ms(busy_api),
            "limit": ms(idle_api),
            "unit": "ms",
            "goal": "p50 ≤ 50 ms",
            "goal_max": 50,
            "note": f"the limit is the same with nobody waiting; p99 {ms(busy_api, 99):.0f} ms "
            f"(nobody waiting: {ms(idle_api, 99):.0f} ms)",
        },
        {
            "figure": f"/healthz while {size:,} phones wait, max",
            "size": len(busy_health),
            "value": max(busy_health) * 1000,
            "limit": ms(idle_health),
            "unit": "ms",
            "goal": "≤ 200 ms",
            "goal_max": 200,
            "note": f"p50 {ms(busy_health):.0f} ms; the limit is its p50 with nobody waiting",
        },
        {
            "figure": f"Long poll: database connections held by {size:,} waiting phones",
            "size": size,
            "value": connections,
            "limit": None,
            "unit": "connections",
            "goal": "a few in total, not one each",
            "goal_max": 4,
            "note": "the poll server's, by application_name (its database thread and listener)",
        },
    ]


def push_one(session, base, auth, one: str) -> tuple[str, float]:
    """A one-token push: its push id and how long the API took to accept it."""
    body = {
        "audience_type": "token_list",
        "token_list": [one],
        "message_type": "notify",
        "message": {"title": "Approval", "content": "Expense report 42 waits for you"},
    }
    started = time.perf_counter()
    answer = session.post(f"{base}/v3/push/app", json=body, auth=auth, timeout=30)
    took = time.perf_counter() - started
    assert answer.status_code == 200 and answer.json()["ret_code"] == 0, answer.text
    return answer.json()["push_id"], took


def push_api(session, base, auth, tokens) -> list[float]:
    """One-token pushes, one after the other: their latencies."""
    return [push_one(session, base, auth, one)[1] for one in tokens]


def healthz(session, base, count) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = session.get(f"{base}/healthz", timeout=30)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    return times


class poll_server:
    """``manage.py runpoll`` on a free loopback port, as deployed."""

    def __enter__(self):
        port = free_port()
        env = server_env(PGAPPNAME=APP_NAME)
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runpoll", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )
        return self._started(f"http://127.0.0.1:{port}")

    def _started(self, base: str) -> str:
        import requests

        for _ in range(200):
            try:
                requests.get(f"{base}/healthz/poll", timeout=2)
                return base
            except requests.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError("the poll server exited") from None
                time.sleep(0.1)
        raise RuntimeError("the poll server did not start")

    def __exit__(self, *exc):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(30)


class phones:
    """The load generator (``bench.pollclient``); yields a function that returns its answers
    once it has stopped."""

    def __init__(self, poll_base, credentials: tuple[str, str], work: Path, size: int):
        self.args = [
            sys.executable,
            "-m",
            "bench.pollclient",
            "127.0.0.1",
            poll_base.rsplit(":", 1)[1],
            *credentials,  # access id, access key
            str(work / "tokens"),
            str(WAIT),
            str(work / "answers.json"),
        ]
        self.out = work / "answers.json"
        self.result = None

    def __enter__(self):
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        self.process.stdout.readline()  # "connected N"
        self.answered = 0
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        for line in self.process.stdout:
            if line.startswith("answered "):
                self.answered = int(line.split()[1])

    def wait_for_answers(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.answered < count and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self):
        if self.result is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(60)
            self.result = json.loads(self.out.read_text())
        return self.result

    def answers(self):
        return self.stop()["answers"]

    def __exit__(self, *exc):
        self.stop()


class bare_server(poll_server):
    """``bench.bareserver`` on a free loopback port: the limit of the ``all`` push."""

    def __enter__(self):
        port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bareserver", str(port)],
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )
        return self._started(f"http://127.0.0.1:{port}")


def bare_all(work: Path, size: int) -> list[float]:
    """How long after a release each of ``size`` phones waiting on the bare server has its
    answer: the second round (the first one warms the connections up, as the single pushes did
    for the real server)."""
    import requests

    with requests.Session() as session, bare_server() as base:
        with phones(base, ("0", "-"), work, size) as generator:  # it asks for no keys
            wait_for(session, base, size)
            session.post(f"{base}/release", timeout=30)
            generator.wait_for_answers(size)
            wait_for(session, base, size)
            released = time.time()
            session.post(f"{base}/release", timeout=30)
            generator.wait_for_answers(2 * size)
            answers = generator.answers()
    return [max(0.0, at - released) for _t, at, ids in answers if ids == ["bare-2"]]


def wait_for(session, poll_base, size, timeout=180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if session.get(f"{poll_base}/healthz/poll", timeout=10).json()["waiting"] >= size:
            return
        time.sleep(0.5)
    raise RuntimeError(f"not all {size:,} phones came to wait")


def poll_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP_NAME]
        )
        return cursor.fetchone()[0]


def broadcast_to_all(app) -> tuple[str, float]:
    """An ``all`` push, fanned out here as the task would (one chunk: one commit)."""
    push = fanout.accept(
        Push(
            application=app,
            audience_type="all",
            audience={},
            message_type="notify",
            title="Maintenance tonight",
            content="The service pauses at 02:00",
            message={"title": "Maintenance tonight", "content": "The service pauses at 02:00"},
        ),
        now=timezone.now(),
    )
    fanout.start(push.pk)
    return str(push.push_id), time.time()


def wake_ups(answers, sent: dict, broadcast: str, committed: float):
    single, everyone = [], []
    for _token, at, push_ids in answers:
        for push_id in push_ids:
            if push_id in sent:
                single.append(max(0.0, at - sent[push_id]))
            elif push_id == broadcast:
                everyone.append(max(0.0, at - committed))
    return single, everyone


def bare_notify(count: int) -> list[float]:
    """PostgreSQL's NOTIFY → LISTEN on loopback: a commit's notification reaching a listening
    psycopg connection, nothing of ours around it."""
    params = connection.get_connection_params()
    conninfo = {
        k: params[k] for k in ("dbname", "user", "password", "host", "port") if params.get(k)
    }
    with (
        psycopg.connect(**conninfo, autocommit=True) as listener,
        psycopg.connect(**conninfo, autocommit=True) as sender,
    ):
        listener.execute("LISTEN bench_notify")
        received = {}

        def listen():
            for note in listener.notifies(stop_after=count, timeout=60):
                received[int(note.payload)] = time.perf_counter()

        thread = threading.Thread(target=listen)
        thread.start()
        time.sleep(0.2)
        sent = {}
        for n in range(count):
            sent[n] = time.perf_counter()
            sender.execute("SELECT pg_notify('bench_notify', %s)", [str(n)])
            time.sleep(0.005)
        thread.join(60)
    return [received[n] - sent[n] for n in sent if n in received]
