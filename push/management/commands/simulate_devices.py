"""Simulated phones that use the SDK API over real HTTP, so that pushes have somewhere to go.

    python manage.py simulate_devices --app 1500012345 --count 50 --phones --rounds 3

Each device registers (``POST /sdk/v1/register``), optionally binds a random mainland number
(``POST /sdk/v1/phone``), then every round fetches its notifications (``GET /sdk/v1/messages``)
and reports what a user would do (``POST /sdk/v1/events``): a notification arrives with
probability ``--arrive``, and an arrived one is clicked with probability ``--click``. A
``--disabled`` fraction of the devices has notifications turned off: their notifications never
arrive (pass-through messages still do, and are never clicked), which is what the
"notifications disabled" supplementary SMS is for.

The devices are kept between runs in a JSON state file (default ``.simulator/<AccessID>.json``):
token, whether notifications are on, the bound number and the inbox cursor. A new run
re-registers the same devices (as an app does at start) instead of creating new ones, so starting
the simulator again and again does not pile up devices; a token the server no longer knows
(another database) is replaced by a newly registered device. ``--count`` larger than the stored
devices adds devices; smaller uses the first ones.

It talks to the server only over HTTP, as a phone would. The AccessKey is read from this
project's database by AccessID (the simulator runs next to the server), or given with
``--access-key`` for a server elsewhere.
"""

import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from push.inbox import PAGE as INBOX_PAGE
from push.models import Application, Platform
from sms.numbers import InvalidNumber, normalize

PAGES_PER_ROUND = 10  # inbox pages (100 notifications each) a device reads in one round
EVENTS_PER_REQUEST = 500
# Mainland mobile prefixes the numbers are drawn from (+86 1xx xxxx xxxx).
MOBILE_PREFIXES = ("134", "135", "136", "137", "138", "139", "150", "151", "186", "188", "189")
BRANDS = ("Xiaomi", "HUAWEI", "OPPO", "vivo", "HONOR")
APP_VERSIONS = ("2.0.0", "2.1.0", "2.1.1")


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError("a fraction between 0 and 1")
    return value


class Sdk:
    """The SDK API as a phone sees it."""

    def __init__(self, url: str, access_id: int, access_key: str, timeout: float):
        self.base = url.rstrip("/") + "/sdk/v1/"
        self.session = requests.Session()
        if urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"):
            self.session.trust_env = False  # a proxy from the environment cannot reach it
        self.session.headers.update({"X-Access-Id": str(access_id), "X-Access-Key": access_key})
        self.timeout = timeout

    def call(self, method: str, path: str, *, ok=(200, 201), **kwargs) -> requests.Response:
        try:
            response = self.session.request(
                method, self.base + path, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise CommandError(f"cannot reach {self.base}: {exc}") from None
        if response.status_code not in ok:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise CommandError(f"{method} {path}: HTTP {response.status_code}: {message}")
        return response


class Command(BaseCommand):
    help = "Register simulated devices through the SDK API and report arrivals and clicks."

    def add_arguments(self, parser):
        parser.add_argument("--app", type=int, required=True, metavar="ACCESS_ID")
        parser.add_argument("--access-key", help="default: read from the database")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server")
        parser.add_argument("--count", type=int, default=10, help="devices (default 10)")
        parser.add_argument("--arrive", type=fraction, default=0.8, help="P(arrival)")
        parser.add_argument("--click", type=fraction, default=0.3, help="P(click | arrival)")
        parser.add_argument(
            "--disabled", type=fraction, default=0.1, help="fraction with notifications off"
        )
        parser.add_argument("--phones", action="store_true", help="bind a number to each")
        rounds = parser.add_mutually_exclusive_group()
        rounds.add_argument("--rounds", type=int, default=1, help="rounds to run (default 1)")
        rounds.add_argument("--forever", action="store_true", help="run until stopped")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="seconds between rounds (default 5)"
        )
        parser.add_argument("--seed", type=int, help="for repeatable runs")
        parser.add_argument("--state", help="state file (default .simulator/<ACCESS_ID>.json)")
        parser.add_argument(
            "--platform", choices=Platform.values, help="default: the application's platform"
        )
        parser.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout, seconds")

    def handle(self, *args, **options):
        if options["count"] < 1 or options["rounds"] < 0 or options["interval"] < 0:
            raise CommandError("--count must be at least 1, --rounds and --interval at least 0")
        access_id = options["app"]
        app = Application.objects.filter(access_id=access_id).first()
        access_key = options["access_key"] or (app.access_key if app else None)
        if access_key is None:
            raise CommandError(
                f"no application with AccessID {access_id} in this database: "
                "give --access-key (and --platform) to simulate devices of another server"
            )
        self.platform = options["platform"] or (app.platform if app else Platform.ANDROID)
        self.rng = random.Random(options["seed"])
        self.options = options
        self.sdk = Sdk(options["url"], access_id, access_key, options["timeout"])
        self.path = Path(
            options["state"] or Path(settings.BASE_DIR) / ".simulator" / f"{access_id}.json"
        )

        devices = self.set_up(self.load())
        self.save(devices)
        round_no = 0
        try:
            while options["forever"] or round_no < options["rounds"]:
                if round_no:
                    time.sleep(options["interval"])
                round_no += 1
                totals = self.run_round(devices)
                self.save(devices)
                self.stdout.write(self.summary(round_no, len(devices), totals))
        except KeyboardInterrupt:
            self.save(devices)
            self.stdout.write("stopped")

    # Devices

    def load(self) -> list[dict]:
        try:
            return json.loads(self.path.read_text())["devices"]
        except FileNotFoundError:
            return []
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"{self.path} is not a simulator state file: {exc}") from None

    def save(self, devices: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps({"devices": devices}, indent=1))
        os.replace(partial, self.path)  # never a half-written file

    def set_up(self, stored: list[dict]) -> list[dict]:
        """Refresh the stored devices, register the missing ones, bind numbers."""
        count, options = self.options["count"], self.options
        devices, counts = [], Counter()
        for device in stored[:count]:
            answer = self.register(device)
            if answer is None:  # unknown to this server: a new device takes its place
                counts["replaced"] += 1
                continue
            counts["refreshed"] += 1
            devices.append(device)
        missing = count - len(devices)
        want_off = round(count * options["disabled"]) - sum(not d["enabled"] for d in devices)
        off = set(self.rng.sample(range(missing), min(max(want_off, 0), missing)))
        for i in range(missing):
            device = {
                "token": None,
                "enabled": i not in off,
                "phone": None,
                "after": 0,
                "profile": self.profile(),
            }
            device["token"] = self.register(device)["token"]
            counts["new"] += 1
            devices.append(device)
        if options["phones"]:
            taken = {d["phone"] for d in devices if d["phone"]}
            for device in devices:
                if not device["phone"]:
                    device["phone"] = self.bind_phone(device["token"], taken)
                    counts["phones"] += 1
        self.stdout.write(
            f"{len(devices)} devices of AccessID {options['app']} at {options['url']}: "
            f"{counts['refreshed']} refreshed, {counts['new']} new "
            f"({counts['replaced']} replaced), "
            f"{sum(not d['enabled'] for d in devices)} with notifications off, "
            f"{counts['phones']} numbers bound; state in {self.path}"
        )
        return devices

    def profile(self) -> dict:
        android = self.platform == Platform.ANDROID
        return {
            "app_version": self.rng.choice(APP_VERSIONS),
            "sdk_version": "1.4.0-sim",
            "os_version": "14" if android else "17.5",
            "device_brand": self.rng.choice(BRANDS) if android else "Apple",
            "system_language": "zh-CN",
            "country": "CN",
        }

    def register(self, device: dict) -> dict | None:
        """Register (or refresh) the device; None when the server does not know its token."""
        device.setdefault("profile", self.profile())
        body = {
            "platform": self.platform,
            **device["profile"],
            "notifications_enabled": device["enabled"],
        }
        if not device["token"]:
            return self.sdk.call("POST", "register", json=body).json()
        body["token"] = device["token"]
        response = self.sdk.call("POST", "register", json=body, ok=(200, 404))
        return None if response.status_code == 404 else response.json()

    def bind_phone(self, token: str, taken: set) -> str:
        while True:
            raw = "+86" + self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            try:
                number = normalize(raw)
            except InvalidNumber:
                continue
            if number not in taken:
                break
        taken.add(number)
        self.sdk.call("POST", "phone", json={"token": token, "phone": number})
        return number

    # Rounds

    def run_round(self, devices: list[dict]) -> Counter:
        """Every device reads its new notifications and reports what its user did."""
        totals = Counter()
        arrive, click = self.options["arrive"], self.options["click"]
        for device in devices:
            events = []
            for _ in range(PAGES_PER_ROUND):
                page = self.sdk.call(
                    "GET", "messages", params={"token": device["token"], "after": device["after"]}
                ).json()
                device["after"] = page["next"]
                for message in page["messages"]:
                    totals["messages"] += 1
                    shown = message["message_type"] == "message" or device["enabled"]
                    if not shown or self.rng.random() >= arrive:
                        continue
                    events.append({"push_id": message["push_id"], "type": "arrive"})
                    totals["arrived"] += 1
                    if message["message_type"] == "notify" and self.rng.random() < click:
                        events.append({"push_id": message["push_id"], "type": "click"})
                        totals["clicked"] += 1
                if len(page["messages"]) < INBOX_PAGE:
                    break
            at = round(time.time(), 3)
            for start in range(0, len(events), EVENTS_PER_REQUEST):
                batch = [{**e, "at": at} for e in events[start : start + EVENTS_PER_REQUEST]]
                answer = self.sdk.call(
                    "POST", "events", json={"token": device["token"], "events": batch}
                ).json()
                totals.update(answer)
        return totals

    def summary(self, round_no: int, devices: int, totals: Counter) -> str:
        of = "" if self.options["forever"] else f"/{self.options['rounds']}"
        return (
            f"round {round_no}{of}: {devices} devices, {totals['messages']} notifications, "
            f"{totals['arrived']} arrived, {totals['clicked']} clicked "
            f"(events accepted {totals['accepted']}, duplicates {totals['duplicates']}, "
            f"unknown {totals['unknown']})"
        )
