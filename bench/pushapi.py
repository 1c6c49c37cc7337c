"""Figure 2: /v3/push/app with a 1,000-token token_list through gunicorn on loopback: median and
p99 latency, vs a bare DRF endpoint that only parses the same body."""

import json
import statistics
import time

from .common import cleanup, gunicorn, make_devices, tenant, token

TOKENS = 1000


def _timings(session, url, body, count, **kwargs) -> list[float]:
    out = []
    for _ in range(count):
        start = time.perf_counter()
        response = session.post(url, data=body, **kwargs)
        out.append(time.perf_counter() - start)
        response.raise_for_status()
        assert response.json().get("ret_code") == 0, response.text
    return out


def run(size: int) -> dict:
    account, app = tenant("pushapi")
    try:
        make_devices(app, TOKENS)
        tokens = [token(i) for i in range(TOKENS)]
        body = json.dumps(
            {
                "audience_type": "token_list",
                "token_list": tokens,
                "message_type": "notify",
                "message": {"title": "Approval", "content": "Expense report 42 waits"},
            }
        ).encode()
        with gunicorn(BENCH_ENDPOINTS="true") as (base, session):
            auth = (str(app.access_id), app.secret_key())
            headers = {"Content-Type": "application/json"}
            _timings(session, base + "/v3/push/app", body, 3, auth=auth, headers=headers)
            _timings(session, base + "/bench/parse", body, 3, headers=headers)  # warm-up
            real = _timings(session, base + "/v3/push/app", body, size, auth=auth, headers=headers)
            bare = _timings(session, base + "/bench/parse", body, size, headers=headers)
    finally:
        cleanup(account)

    def p(values, q):
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    p50, p99 = statistics.median(real) * 1000, p(real, 99)
    bare50 = statistics.median(bare) * 1000
    return {
        "figure": "Push API: /v3/push/app, 1,000 tokens, p50 latency",
        "size": size,
        "value": p50,
        "limit": bare50,
        "unit": "ms",
        "goal": "p50 ≤ 50 ms",
        "goal_max": 50,
        "note": f"p99 {p99:.1f} ms; bare parse p50 {bare50:.1f} ms",
        "p99_ms": p99,
        "bare_p50_ms": bare50,
    }
