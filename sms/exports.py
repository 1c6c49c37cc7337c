"""CSV export of SMS records, streamed: rows are read in chunks and written as they come."""

import csv

from django.http import StreamingHttpResponse

from .numbers import mask

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


class _Echo:
    def write(self, value):
        return value


def _blank_none(value):
    return "" if value is None else value


def csv_rows(
    queryset,
    *,
    columns=COLUMNS,
    mask_numbers: bool = False,
    masked: str = "phone_number",
    cell=_blank_none,
):
    """The header and the rows of ``columns`` (``(header, field)`` pairs), read in chunks of
    2000. ``cell`` formats each value; with ``mask_numbers``, the ``masked`` column's non-empty
    numbers are masked."""
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _ in columns])
    fields = [field for _, field in columns]
    at = [name for name, _ in columns].index(masked) if mask_numbers else None
    for row in queryset.values_list(*fields).iterator(chunk_size=2000):
        row = [cell(v) for v in row]
        if at is not None and row[at]:
            row[at] = mask(row[at])
        yield writer.writerow(row)


def csv_response(queryset, filename: str, **options) -> StreamingHttpResponse:
    """A streamed CSV download of ``csv_rows(queryset, **options)``."""
    response = StreamingHttpResponse(
        csv_rows(queryset, **options), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
