"""The fuzzers' bookkeeping: what each endpoint was sent and how it answered, printed at the end
of the run (``fuzz: <endpoint>: N cases, N server errors, ...``) so CI's log carries the figures.
"""

from collections import Counter, defaultdict

import pytest

TALLY: dict[str, Counter] = defaultdict(Counter)


@pytest.fixture
def tally():
    return TALLY


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    terminalreporter.section("fuzz figures")
    total = Counter()
    for endpoint in sorted(TALLY):
        counts = TALLY[endpoint]
        total.update(counts)
        terminalreporter.write_line(f"fuzz: {endpoint}: {_line(counts)}")
    terminalreporter.write_line(f"fuzz: all endpoints: {_line(total)}")


def _line(counts: Counter) -> str:
    return (
        f"{counts['cases']} cases ({counts['2xx']} answered 2xx), {counts['5xx']} server errors, "
        f"{counts['bad_shape']} answers not in the protocol's shape, "
        f"{counts['half_written']} refusals that wrote"
    )
