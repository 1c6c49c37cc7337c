"""Console links to exports, and CSV exports streamed: rows are read in chunks and written as
they come.

Every export (the SMS records in the console and the API, a push's deliveries) goes through
``csv_rows``, which passes the personal columns through the caller's ``Masking``
(``Membership.masking``): a viewer's export shows what the viewer's pages show.
"""

import csv
from datetime import datetime

from django.http import StreamingHttpResponse
from django.utils import translation

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
    """The header and the rows of ``columns`` (``(header, field)`` pairs, or ``(header, field,
    words)`` for a column that puts a field in words, e.g. a reason code's label beside the
    code), read in chunks of 2000. ``cell`` formats each value; the personal columns
    (``PERSONAL``) go through ``masking``."""
    writer = csv.writer(_Echo())
    headers = [name for name, *_ in columns]
    yield writer.writerow(headers)
    # A plain column selects its field; a words column reads its field's plain column (or
    # selects the field once more at the end).
    fields = [field for _, field, *rest in columns if not rest]
    at_field, words, plain = [], [], 0
    for _name, field, *rest in columns:
        if not rest:
            at_field.append(plain)
            plain += 1
        else:
            if field not in fields:
                fields.append(field)
            at_field.append(fields.index(field))
        words.append(rest[0] if rest else None)
    personal = [(at, PERSONAL[name]) for at, name in enumerate(headers) if name in PERSONAL]
    if masking.reveal:
        personal = []
    if any(kind == "content" for _, kind in personal):
        fields.append("params")
    for values in queryset.values_list(*fields).iterator(chunk_size=2000):
        row = [
            cell(values[at]) if say is None else (say(values[at]) if values[at] else "")
            for at, say in zip(at_field, words, strict=True)
        ]
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
    rows = _spoken(translation.get_language(), csv_rows(queryset, **options))
    if bom:
        rows = _led_by(BOM, rows)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _spoken(language, rows):
    """The rows, each made in ``language``: a streamed download is read after its view has
    returned (and its request's language was let go), its words columns still speak the
    language of the request that asked for it. Activated per row, not around the loop: under
    ASGI each chunk may be made in another thread."""
    rows = iter(rows)
    while True:
        with translation.override(language):
            row = next(rows, None)
        if row is None:
            return
        yield row


def _led_by(first: str, rows):
    yield first
    yield from rows
