"""The columns of the SMS records export (streamed by ``lib.exports.csv_response``)."""

from lib.exports import csv_response as _csv_response

from .rules import reason_label

COLUMNS = [
    ("id", "id"),
    ("created_at", "created_at"),
    ("phone_number", "phone_number"),
    ("region", "region"),
    ("state", "state"),
    ("reason", "reason"),
    ("template_id", "template_code"),
    ("sign_name", "sign_name"),
    ("content", "content"),
    ("fee", "fee"),
    ("charged", "charged"),
    ("serial_no", "serial_no"),
    ("source_type", "source_type"),
    ("source_id", "source_id"),
    ("simulated", "simulated"),
    ("sent_at", "sent_at"),
    ("delivered_at", "delivered_at"),
    ("receipt_code", "receipt_code"),
]

# The console's download (read by people, in their language): the reason in words beside its
# code. The API's export keeps ``COLUMNS``.
CONSOLE_COLUMNS = [
    *COLUMNS[: COLUMNS.index(("reason", "reason")) + 1],
    ("reason_text", "reason", reason_label),
    *COLUMNS[COLUMNS.index(("reason", "reason")) + 1 :],
]


def csv_response(queryset, filename: str, **options):
    """The SMS records of ``queryset`` as a streamed CSV download (``COLUMNS`` unless given)."""
    options.setdefault("columns", COLUMNS)
    return _csv_response(queryset, filename, **options)
