"""Transaction-level advisory locks (PostgreSQL): one key space for the whole project.

A key is ``hashtextextended('<namespace>:' || <part>, 0)``, a 64-bit hash PostgreSQL computes
itself (a batch of keys costs no Python). Namespaces in use: ``sms-limit`` (``sms.limits``: per
account and number), ``push-fanout`` (``push.fanout``: per application) and ``push-tags``
(``push.tags``: per application, when a call binds tags new to it), ``push-rollup``
(``push.rollup``: per time zone, while a run replaces its days' rows).
"""


def key_sql(namespace: str, part: str) -> str:
    """The SQL expression of a lock key; ``part`` is SQL (a placeholder, a column, …)."""
    return f"hashtextextended('{namespace}:' || {part}, 0)"
