"""Shared pieces of the management API (/api/v1/): one error body shape for every failure.

    {"error": {"code": "invalid", "message": "time_zone: 'Mars/Base' is not a known time zone",
               "fields": {"time_zone": ["'Mars/Base' is not a known time zone"]}}}

``fields`` is present only for validation errors and names every offending field. The SDK API
(/sdk/v1/) answers in the same shape.

JSON bodies are read by ``JSONParser`` (the default parser, and the SDK's): the rules of
``lib.jsonbody`` (no NaN/Infinity or overflowing numbers, bounded nesting: a 400
``parse_error``; no NUL or lone surrogate in any string: a 400 naming the field), and at most
``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes (413 ``too_large``), which DRF does not check for JSON.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import jsonbody


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(f"The request body is larger than {limit} bytes.")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the project's rules for untrusted JSON (see the module)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge()
        try:
            return jsonbody.loads(raw)
        except jsonbody.Refused as exc:
            if exc.path is not None:
                raise exceptions.ValidationError({exc.path: [exc.message]}) from None
            raise exceptions.ParseError(f"JSON parse error: {exc.message}") from None


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
    elif isinstance(exc, RequestDataTooBig):  # request.body read by an authentication
        exc = PayloadTooLarge()
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


# Every operation of the management and SDK APIs can answer these, in the error shape above:
# bad input, no or wrong credentials, a role too low, no such object (or not the caller's),
# too many failed authentications, and a body over the size limit (operations that take one).
ERROR_RESPONSES = {
    "400": "Bad input: `fields` names each offending field.",
    "401": "Missing or wrong credentials.",
    "403": "The caller's role does not allow this.",
    "404": "No such object, or not one of the caller's.",
    "429": "Too many failed authentications from this address: see Retry-After.",
}
BODY_ERROR_RESPONSES = {"413": "The request body is too large."}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the error answers every operation can give
    (``ERROR_RESPONSES``) where a view did not document them itself, so the schema tells the
    truth about every status an operation answers."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            wanted = dict(ERROR_RESPONSES)
            if method in ("post", "put", "patch", "delete"):
                wanted.update(BODY_ERROR_RESPONSES)
            for code, description in wanted.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                    },
                )
    return result


# The error body, for the OpenAPI schema.
class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For invalid input: every offending field with its messages.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
