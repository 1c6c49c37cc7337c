"""Console links to exports, and CSV exports streamed: rows are read in chunks and written as
they come.

Every export (the SMS records in the console and the API, a push's deliveries) goes through
``csv_rows``, which passes the personal columns through the caller's ``Masking``
(``Membership.masking``): a viewer's export shows what the viewer's pages show.
"""

import csv
from datetime import datetime

from django.http import StreamingHttpResponse

from .masking import FULL, Masking


def export_url(path: str, query: str) -> str:
    """The CSV export of a page: its ``path`` with the current filters (``query``, urlencoded,
    without the page number) and ``export=csv``."""
    return path + "?" + "&".join(filter(None, [query, "export=csv"]))


class _Echo:
    def write(self, value):
        return value


def _blank_none(value):
    return "" if value is None else value


# Personal columns, by header: what ``Masking`` does to each. Content is masked with the
# record's template parameters, read alongside (from ``params``) when it is masked.
PERSONAL = {"phone_number": "number", "token": "token", "content": "content"}


def csv_rows(queryset, *, columns, masking: Masking = FULL, cell=_blank_none):
    """The header and the rows of ``columns`` (``(header, field)`` pairs), read in chunks of
    2000. ``cell`` formats each value; the personal columns (``PERSONAL``) go through
    ``masking``."""
    writer = csv.writer(_Echo())
    headers = [name for name, _ in columns]
    yield writer.writerow(headers)
    fields = [field for _, field in columns]
    personal = [(at, PERSONAL[name]) for at, name in enumerate(headers) if name in PERSONAL]
    if masking.reveal:
        personal = []
    if any(kind == "content" for _, kind in personal):
        fields.append("params")
    for values in queryset.values_list(*fields).iterator(chunk_size=2000):
        row = [cell(v) for v in values[: len(headers)]]
        for at, kind in personal:
            if not row[at]:
                continue
            if kind == "content":
                row[at] = masking.content(row[at], values[-1])
            else:
                row[at] = getattr(masking, kind)(row[at])
        yield writer.writerow(row)


# UTF-8's byte-order mark: Excel reads a CSV as UTF-8 (Chinese text and all) only with it.
BOM = "\ufeff"


def in_time_zone(tz, cell=_blank_none):
    """A ``cell`` that writes times in ``tz`` (ISO 8601 with its offset), other values as
    ``cell`` does."""

    def local(value):
        if isinstance(value, datetime):
            return value.astimezone(tz).isoformat()
        return cell(value)

    return local


def csv_response(
    queryset, filename: str, *, tz=None, bom: bool = False, **options
) -> StreamingHttpResponse:
    """A streamed CSV download of ``csv_rows(queryset, **options)``; times in ``tz`` if given
    (the account's zone, as its pages show them); with ``bom`` (console downloads, opened in
    spreadsheets) led by UTF-8's byte-order mark."""
    if tz is not None:
        options["cell"] = in_time_zone(tz, options.get("cell", _blank_none))
    rows = csv_rows(queryset, **options)
    if bom:
        rows = _led_by(BOM, rows)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _led_by(first: str, rows):
    yield first
    yield from rows
