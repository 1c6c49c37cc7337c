"""Shared pieces of the management API (/api/v1/): one error body shape for every failure.

    {"error": {"code": "invalid", "message": "time_zone: 'Mars/Base' is not a known time zone",
               "fields": {"time_zone": ["'Mars/Base' is not a known time zone"]}}}

``fields`` is present only for validation errors and names every offending field.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail, prefix=""):
    """Validation details as {"field.sub": [messages]}."""
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            if isinstance(key, int):  # ListField errors are keyed by index
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else key
            out.update(_flatten(value, name))
        return out
    if isinstance(detail, list) and detail and not all(isinstance(d, str) for d in detail):
        out = {}
        for i, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}[{i}]"))
        return out
    messages = [str(d) for d in detail] if isinstance(detail, list) else [str(detail)]
    return {prefix or "non_field_errors": messages}


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)  # keep the reason given
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first_field, messages = next(iter(fields.items()))
        body = {
            "code": "invalid",
            "message": f"{first_field}: {messages[0]}",
            "fields": fields,
        }
    else:
        detail = getattr(exc, "detail", str(exc))
        code = detail.code if hasattr(detail, "code") else "error"
        body = {"code": code, "message": str(detail)}
    response.data = {"error": body}
    return response


def error(code: str, message: str, http_status=status.HTTP_400_BAD_REQUEST, **extra):
    return Response({"error": {"code": code, "message": message, **extra}}, status=http_status)
