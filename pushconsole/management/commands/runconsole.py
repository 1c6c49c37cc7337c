"""Run the web server and the django-q2 cluster together in the foreground.

Ctrl-C (or SIGTERM) stops both; if either exits, the other is stopped too. Each child runs in its
own process group so that the whole group (workers included) is signalled and none is orphaned.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

from push.models import Application

from .seed_demo import DEMO_APP

ESSENTIAL = ("web", "tasks")


class Command(BaseCommand):
    help = "Serve the console on ADDR:PORT and run the task cluster, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="also simulate the demo app's devices and send it a demo push now and then",
        )

    def handle(self, *args, addrport, demo, **options):
        manage = [sys.executable, "manage.py"]
        children = {
            # One server for everything: the SDK's long polls held by push.sdk.longpoll,
            # the rest handled by Django (deployments split the two: deploy/).
            "web": subprocess.Popen(
                [*manage, "runpoll", "--all", addrport], start_new_session=True
            ),
            "tasks": subprocess.Popen([*manage, "qcluster"], start_new_session=True),
        }
        app = Application.objects.filter(name=DEMO_APP).first() if demo else None
        if app and self._wait_for(addrport):
            children["devices"] = subprocess.Popen(
                [
                    *manage,
                    "simulate_devices",
                    "--app",
                    str(app.access_id),
                    "--url",
                    f"http://{addrport}",
                    "--count",
                    "25",
                    "--phones",
                    "--disabled",
                    "0.1",
                    "--forever",
                ],
                start_new_session=True,
            )
            children["demo pushes"] = subprocess.Popen(
                [*manage, "demo_pushes"], start_new_session=True
            )
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(f"pushconsole is running on http://{addrport}/ (Ctrl-C stops it)")
        code = 0
        while not stopping:
            for name, child in list(children.items()):
                if child.poll() is None:
                    continue
                if name in ESSENTIAL:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping")
                    code = child.returncode or 1
                    stopping = True
                else:  # the demo helpers are a nicety: the product goes on without them
                    self.stderr.write(f"{name} exited with {child.returncode}")
                    children.pop(name)
            time.sleep(0.2)
        self._terminate(children.values())
        raise SystemExit(code)

    @staticmethod
    def _wait_for(addrport, timeout=30.0) -> bool:
        host, _, port = addrport.rpartition(":")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host or "127.0.0.1", int(port)), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.2)
        return False

    @staticmethod
    def _terminate(children, grace=10.0):
        def signal_group(child, signum):
            try:
                os.killpg(child.pid, signum)  # the group outlives a leader that already exited
            except ProcessLookupError:
                pass

        for child in children:
            signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(child, signal.SIGKILL)
                child.wait()
