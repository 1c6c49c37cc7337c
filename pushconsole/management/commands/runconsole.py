"""Run the web server and the django-q2 cluster together in the foreground.

Ctrl-C (or SIGTERM) stops both; if either exits, the other is stopped too. Each child runs in its
own process group so that the whole group (workers included) is signalled and none is orphaned.
"""

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the console on ADDR:PORT and run the task cluster, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        manage = [sys.executable, "manage.py"]
        children = {
            "web": subprocess.Popen(
                [*manage, "runserver", "--noreload", addrport], start_new_session=True
            ),
            "tasks": subprocess.Popen([*manage, "qcluster"], start_new_session=True),
        }
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(f"pushconsole is running on http://{addrport}/ (Ctrl-C stops it)")
        code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping")
                    code = child.returncode or 1
                    stopping = True
            time.sleep(0.2)
        self._terminate(children.values())
        raise SystemExit(code)

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
