"""The answers to requests that no view answered: an unknown path (404), a request Django refused
before or around the view (400, e.g. a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``), a crash (500).

Django's HTML pages are right for the console, not for the APIs, whose clients parse JSON:

- ``/api/`` and ``/sdk/``: ``{"error": {"code", "message"}}``, the shape of every other answer of
  the management and SDK APIs (``lib.api``); a body too large is a 413;
- ``/v3/``: TPNS's ``{"ret_code", "err_msg"}``. Its views answer for themselves, unknown paths
  included (``push.tpns.views``); this is the net for what happens outside them;
- anything else: Django's own pages.

Wired in ``pushconsole.urls`` as ``handler400``, ``handler404`` and ``handler500`` (Django uses
them when ``DEBUG`` is off).
"""

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views import defaults

API_PREFIXES = ("/api/", "/sdk/")
TPNS_PREFIX = "/v3/"
TPNS_PARSE_ERROR, TPNS_INTERNAL = 1008001, 1008004  # push.tpns.RetCode


def _api(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _tpns(code: int, message: str, status: int) -> JsonResponse:
    return JsonResponse({"ret_code": code, "err_msg": message}, status=status)


def bad_request(request, exception=None):
    too_big = isinstance(exception, RequestDataTooBig)
    if request.path.startswith(API_PREFIXES):
        if too_big:
            return _api("too_large", "The request body is too large.", 413)
        return _api("bad_request", "The request could not be read.", 400)
    if request.path.startswith(TPNS_PREFIX):
        message = "the request body is too large" if too_big else "the request could not be read"
        return _tpns(TPNS_PARSE_ERROR, message, 413 if too_big else 400)
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if request.path.startswith(API_PREFIXES):
        return _api("not_found", f"No such endpoint or object: {request.path}", 404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith(API_PREFIXES):
        return _api("error", "Internal server error.", 500)
    if request.path.startswith(TPNS_PREFIX):
        return _tpns(TPNS_INTERNAL, "internal error", 500)
    return defaults.server_error(request)


class QueryTextMiddleware:
    """Refuse a query parameter holding a NUL character (PostgreSQL refuses NUL in text, so it
    would crash whichever query it reached): 400 naming the parameter, in the API's shape
    under ``/api/`` and ``/sdk/``, Django's page elsewhere. One rule for every view, before
    any of them reads ``request.GET``. TPNS's endpoints read no query parameters."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(TPNS_PREFIX):  # TPNS reads no query parameters
            return self.get_response(request)
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return self._refuse(request, key.replace("\x00", "\\x00"))
        return self.get_response(request)

    @staticmethod
    def _refuse(request, name: str):
        message = "must not contain NUL characters"
        if request.path.startswith(API_PREFIXES):
            body = {"code": "invalid", "message": f"{name}: {message}", "fields": {name: [message]}}
            return JsonResponse({"error": body}, status=400)
        return defaults.bad_request(request, None)
