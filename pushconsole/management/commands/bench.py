"""The benchmark: each figure measured side by side with its limit, in the same run."""

import json
import platform
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

SIZES = {
    # figure: (tiny, full)
    "fanout": (2_000, 1_000_000),
    "fallback": (1_000, 100_000),
    "pushapi": (5, 200),  # requests
    "events": (1_000, 100_000),
    "console": (2_000, 1_000_000),  # deliveries (and a tenth as many SMS records)
    # notifications: the issue asks for 100,000 (and an all push to 1,000,000 devices), but
    # the Python fakes answer about 800 (APNs) and 300 (FCM) a second on this 2-core machine,
    # so that many would take 4 and 11 minutes a side (and 20 for the all push): the ratio to
    # the limit is the goal, measured on fewer.
    "apns": (1_000, 20_000),
    "fcm": (500, 10_000),
    "apns_all": (2_000, 100_000),  # devices
    "huawei": (2_000, 100_000),  # notifications, 1,000 tokens a request
    "receipts": (2_000, 100_000),  # Huawei receipts, 1,000 a POST
    # supplementary SMS due at a steady rate (over 5 min at full size), then as many at once
    "lateness": (2_000, 100_000),
    # phones long-polling at once (the issue: 10,000 on this 2-core machine)
    "longpoll": (200, 10_000),
}
# figure: "module:function" when it is not bench.<figure>:run
ENTRY_POINTS = {
    "apns": "bench.channels:run_apns",
    "fcm": "bench.channels:run_fcm",
    "apns_all": "bench.channels:run_apns_all",
    "huawei": "bench.vendors:run_huawei",
    "receipts": "bench.vendors:run_receipts",
}


MET = {True: "yes", False: "NO", None: "—"}
GOALS = ("goal_ratio", "goal_absolute", "goal_max")


class Command(BaseCommand):
    help = "Run the benchmark on PostgreSQL and write bench/results.md and bench/results.json."

    def add_arguments(self, parser):
        parser.add_argument("--tiny", action="store_true", help="CI size: proves it still works")
        parser.add_argument("--only", nargs="*", choices=sorted(SIZES), help="figures to run")
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "bench"))

    def handle(self, *args, tiny, only, out, **options):
        if connection.vendor != "postgresql":
            raise CommandError("the benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…")
        import importlib

        rows = []
        for name in only or SIZES:
            size = SIZES[name][0 if tiny else 1]
            self.stdout.write(f"{name}: {size:,} …")
            module, function = ENTRY_POINTS.get(name, f"bench.{name}:run").split(":")
            result = getattr(importlib.import_module(module), function)(size)
            # A figure may come with rows that explain it (its floor, say): they have no goal.
            for row in result if isinstance(result, list) else [result]:
                row["ratio"] = row["value"] / row["limit"] if row.get("limit") else None
                if row.get("goal_max") is not None and row["value"] and row.get("limit"):
                    # Latency: the ratio is limit / value, so 1.0 means "as fast as the limit".
                    row["ratio"] = row["limit"] / row["value"]
                row["met"] = self._met(row)
                rows.append(row)
                self.stdout.write(self._line(row))
        self._write(rows, Path(out), tiny)

    @staticmethod
    def _met(row) -> bool | None:
        if not any(row.get(goal) is not None for goal in GOALS):
            return None  # an explanatory row: nothing to meet
        ok = True
        if row.get("goal_ratio") is not None and row["ratio"] is not None:
            ok = ok and row["ratio"] >= row["goal_ratio"]
        if row.get("goal_absolute") is not None:
            ok = ok and row["value"] >= row["goal_absolute"]
        if row.get("goal_max") is not None:
            ok = ok and row["value"] <= row["goal_max"]
        return ok

    @staticmethod
    def _line(row) -> str:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "—"
        limit = f"{row['limit']:,.0f}" if row.get("limit") else "—"
        return (
            f"| {row['figure']} | {row['size']:,} | {row['value']:,.0f} {row['unit']} | "
            f"{limit} | {ratio} | {row['goal']} | {MET[row['met']]} |"
        )

    def _write(self, rows, out: Path, tiny: bool) -> None:
        out.mkdir(parents=True, exist_ok=True)
        name = "results-tiny" if tiny else "results"
        meta = {
            "at": timezone.now().isoformat(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "database": connection.cursor().connection.info.server_version,
        }
        (out / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        lines = [
            f"# Benchmark results{' (tiny, CI)' if tiny else ''}",
            "",
            f"Run {meta['at']} on {meta['machine']}, Python {meta['python']}, "
            f"PostgreSQL {meta['database']}. Each figure is measured beside its limit in the same "
            "run. The ratio is figure / limit for rates and limit / figure for latencies (ms), "
            "so higher is better everywhere and 1.0 means as fast as the limit.",
            "",
            "| figure | size | value | limit | ratio | goal | met |",
            "|---|---|---|---|---|---|---|",
            *[self._line(r) for r in rows],
            "",
            *[f"- {r['figure']}: {r['note']}" for r in rows if r.get("note")],
            "",
        ]
        (out / f"{name}.md").write_text("\n".join(lines))
        self.stdout.write(f"wrote {out / name}.md and .json")
