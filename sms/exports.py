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


def csv_rows(queryset, *, mask_numbers: bool = False):
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _ in COLUMNS])
    fields = [field for _, field in COLUMNS]
    phone = fields.index("phone_number")
    for row in queryset.values_list(*fields).iterator(chunk_size=2000):
        row = ["" if v is None else v for v in row]
        if mask_numbers:
            row[phone] = mask(row[phone])
        yield writer.writerow(row)


def csv_response(queryset, filename: str, *, mask_numbers: bool = False) -> StreamingHttpResponse:
    rows = csv_rows(queryset, mask_numbers=mask_numbers)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
