"""ASGI entry points (uvicorn).

``application``: the whole product in one server, the built-in channel's long polls held by
``push.sdk.longpoll`` and every other request handled by Django (``make run``).
``poll``: the long polls alone (and ``/healthz/poll``), for a deployment whose proxy sends
``/sdk/v1/messages`` to it and everything else to gunicorn (deploy/).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushconsole.settings")
django_application = get_asgi_application()

from push.sdk.longpoll import Server  # noqa: E402 (after Django is set up)

application = Server(django_application)
poll = Server()
