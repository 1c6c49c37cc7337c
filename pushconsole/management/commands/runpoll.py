"""Serve the built-in channel's long polls (``push.sdk.longpoll``) with uvicorn.

``manage.py runpoll 127.0.0.1:8001`` serves ``/sdk/v1/messages`` (and ``/healthz/poll``) alone,
for a deployment whose proxy sends the SDK's polls to it and everything else to gunicorn
(deploy/nginx, deploy/systemd/pushconsole-poll.service, the Procfile's ``poll``).
``--all`` serves the whole product in one process: the long polls held here, every other
request handled by Django (``make run``).

One process: it holds every waiting poll of this machine (one poll per device, the caps per
application) and asks the database for all of them at once. On SIGTERM or Ctrl-C it first
answers every waiting poll (empty), so the phones poll its successor instead of being cut off.
"""

import warnings

import uvicorn
from django.core.management.base import BaseCommand, CommandError


def server_config(app, host: str = "127.0.0.1", port: int = 8001, **extra) -> uvicorn.Config:
    """How the poll server runs (the tests run it so too)."""
    extra.setdefault("loop", "uvloop")
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        http="httptools",
        # A burst of phones polling again at once (after a restart) must not find the listen
        # queue full.
        backlog=4096,
        # The client address is the connection's, as under gunicorn: the application reads
        # X-Forwarded-For itself, as far as TRUSTED_PROXY_COUNT says (lib.clientaddr). (uvicorn
        # would otherwise take it from a loopback proxy's header before the application does,
        # and the header's parsing was a tenth of the server's work after a broadcast.)
        proxy_headers=False,
        # Answered by then: the waiting polls are released first (handle_exit).
        timeout_graceful_shutdown=10,
        **extra,
    )


class PollServer(uvicorn.Server):
    def __init__(self, config, app):
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig, frame):
        hub = self.app.hub
        if hub is not None and hub.loop is not None:
            hub.loop.call_soon_threadsafe(hub.release)
        super().handle_exit(sig, frame)


class Command(BaseCommand):
    help = "Serve the SDK's long polls (or, with --all, the whole product) with uvicorn."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8001")
        parser.add_argument(
            "--all",
            action="store_true",
            help="serve the console and the APIs too (make run), not the long polls alone",
        )
        parser.add_argument("--access-log", action="store_true", help="one line per request")

    def handle(self, *args, addrport, all, access_log, **options):
        host, _, port = addrport.rpartition(":")
        if not port.isdigit():
            raise CommandError(f"addrport: {addrport!r} is not HOST:PORT")
        from pushconsole import asgi

        app = asgi.application if all else asgi.poll
        if all:  # static files and CSV exports stream from a thread: right for make run
            warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume")
        config = server_config(
            app, host or "127.0.0.1", int(port), access_log=access_log, log_level="info"
        )
        server = PollServer(config, app)
        what = "pushconsole" if all else "pushconsole long polls"
        self.stdout.write(f"{what} on http://{config.host}:{config.port}/ (Ctrl-C stops it)")
        server.run()
