"""Number (account) and token packages: an uploaded file parsed, streaming, into
``PushPackageEntry`` rows, so that a package push fans out with one join (``push.audience``).

The file formats are TPNS's (its number package and token package upload pages, which share one
endpoint and one ``file`` field): a ``.txt`` (UTF-8, one value a line), a ``.csv`` (one column,
one value a row) or a ``.zip`` holding a single ``.txt`` or ``.csv`` and no folder; at most
100 MB; a file name of 1 to 100 characters; an account of 2 to 100 characters, a token of 36.

TPNS's upload says nothing of what a file holds: the push names it (``package_account_push`` or
``package_token_push``). So every line is checked by the account rule, which a token meets, and
a package whose every value has a token's shape is recorded as a token package (``kind``, shown
in the console); a push of either type may use any package of its application.

Nothing is held in memory at once: the file is read in ``CHUNK`` bytes, a line longer than any
value can be is skipped without being kept, and values go to the database as they come (COPY on
PostgreSQL, batched inserts elsewhere). Bad lines are counted, with a few kept as examples, and
are not fatal; a file with no good line is refused, and a refusal writes nothing.
"""

import csv
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction

from .models import Application, PushPackage, PushPackageEntry

MAX_FILE_BYTES = 100 * 1024 * 1024  # TPNS: "大小保持在100MB以内"
# A zip's member is read while it is inflated; this bounds what a small zip may expand to.
MAX_UNZIPPED_BYTES = 10 * MAX_FILE_BYTES
NAME_LENGTH = (1, 100)  # the file name (TPNS)
VALUE_LENGTH = (2, 100)  # an account (TPNS); a token (36) is within it
TOKEN_SHAPE = re.compile(r"[0-9A-Za-z]{36}")  # TPNS: "有效 Token 长度为36位"
SUFFIXES = (".txt", ".csv")
ZIP = ".zip"
CHUNK = 64 * 1024  # bytes read at a time
# A line that cannot be a value whatever its encoding (4 bytes a character, and CSV quoting)
# is skipped as soon as it is this long, never accumulated.
LINE_MAX_BYTES = 4 * VALUE_LENGTH[1] + 64
BAD_EXAMPLES = 10  # bad lines kept as examples (their line number, reason and start)
EXAMPLE_CHARS = 50
INSERT_BATCH = 5000  # rows per INSERT where COPY is not available
BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # PostgreSQL text cannot hold NUL; none is a value


class PackageError(ValueError):
    """A file refused as a whole. ``kind``: ``NAME`` (the file name), ``FORMAT`` (not a
    package TPNS documents: suffix, zip layout, undecodable archive), ``SIZE`` (over
    ``MAX_FILE_BYTES``) or ``EMPTY`` (no good line). ``message`` names the field (``file``)."""

    NAME, FORMAT, SIZE, EMPTY = "name", "format", "size", "empty"

    def __init__(self, kind: str, message: str):
        super().__init__(f"file: {message}")
        self.kind, self.message = kind, f"file: {message}"


@dataclass
class Tally:
    """What a pass over a file found: ``lines`` read, ``bad`` lines and a few ``examples``,
    and whether every good value so far has a token's shape."""

    lines: int = 0
    good: int = 0
    bad: int = 0
    examples: list[dict] = field(default_factory=list)
    all_tokens: bool = True

    def refuse(self, number: int, reason: str, raw: bytes) -> None:
        self.bad += 1
        if len(self.examples) < BAD_EXAMPLES:
            self.examples.append({"line": number, "reason": reason, "text": printable(raw)})


def split_lines(
    chunks: Iterable[bytes], *, max_bytes: int = LINE_MAX_BYTES
) -> Iterator[bytes | None]:
    """The lines of a byte stream given as ``chunks``, without their line ends (LF or
    CRLF), yielded as the chunks come in; a line longer than ``max_bytes`` is yielded as
    ``None`` (too long) and its bytes are dropped as they arrive, so memory stays within a
    chunk and a line. A final line without a line end counts; an empty stream has no line."""
    pending, overlong = b"", False
    for chunk in chunks:
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            line = pending[start : end - 1 if end > start and pending[end - 1] == 13 else end]
            yield None if overlong or len(line) > max_bytes else line
            overlong, start = False, end + 1
        pending = pending[start:]
        if len(pending) > max_bytes:
            overlong, pending = True, b""
    if pending or overlong:
        yield None if overlong or len(pending) > max_bytes else pending.removesuffix(b"\r")


def check_line(raw: bytes | None, *, is_csv: bool) -> tuple[str | None, str]:
    """(the value of a line, "") or (None, why the line is bad)."""
    if raw is None:
        return None, f"longer than {VALUE_LENGTH[1]} characters"
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, "not UTF-8"
    if is_csv and text:
        cells = [cell.strip() for cell in next(csv.reader([text]), [])]
        filled = [cell for cell in cells if cell]
        if len(filled) > 1:
            return None, "more than one column"
        text = filled[0] if filled else ""
    if not text:
        return None, "blank"
    if _CONTROL.search(text):
        return None, "control characters"
    if not VALUE_LENGTH[0] <= len(text) <= VALUE_LENGTH[1]:
        return None, f"not {VALUE_LENGTH[0]} to {VALUE_LENGTH[1]} characters"
    return text, ""


def numbered(
    lines: Iterable[bytes | None], *, is_csv: bool
) -> Iterator[tuple[int, str | None, str, bytes]]:
    """(line number, value or None, why the line is bad, the line's bytes) for each of
    ``lines``: the one reading of a line that packages and tag imports (``push.tag_import``)
    share."""
    for number, raw in enumerate(lines, 1):
        if number == 1 and raw is not None and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        value, reason = check_line(raw, is_csv=is_csv)
        yield number, value, reason, raw or b""


def printable(raw: bytes, chars: int = EXAMPLE_CHARS) -> str:
    """The start of a line as a person may read it (and a JSON or text column hold)."""
    text = raw[: 4 * chars].decode("utf-8", errors="replace")[:chars]
    return _CONTROL.sub("\ufffd", text)


def values(lines: Iterable[bytes | None], tally: Tally, *, is_csv: bool) -> Iterator[str]:
    """The good values of ``lines``, as they come; bad lines counted in ``tally``."""
    for number, value, reason, raw in numbered(lines, is_csv=is_csv):
        tally.lines = number
        if value is None:
            tally.refuse(number, reason, raw)
            continue
        tally.good += 1
        if tally.all_tokens and not TOKEN_SHAPE.fullmatch(value):
            tally.all_tokens = False
        yield value


def check_upload(upload: UploadedFile) -> None:
    """Raise ``PackageError`` for an upload refused before it is read: its name or its size."""
    name = upload.name or ""
    if not NAME_LENGTH[0] <= len(name) <= NAME_LENGTH[1]:
        raise PackageError(
            PackageError.NAME,
            f"the file name must be {NAME_LENGTH[0]} to {NAME_LENGTH[1]} "
            f"characters; it has {len(name)}",
        )
    if upload.size is not None and upload.size > MAX_FILE_BYTES:
        raise PackageError(PackageError.SIZE, f"at most {MAX_FILE_BYTES // 2**20} MB")
    if upload.size == 0:
        raise PackageError(PackageError.EMPTY, "the file is empty")


def store(app: Application, upload: UploadedFile, *, now: datetime, created_by=None) -> PushPackage:
    """Parse ``upload`` (a Django uploaded file: in memory or spilled to disk) into a new
    package of ``app`` with its distinct good values; raises ``PackageError`` (nothing
    written). ``lines`` counts every line, ``entries`` the distinct values kept."""
    check_upload(upload)
    name = upload.name
    tally = Tally()
    with transaction.atomic():
        package = PushPackage.objects.create(
            application=app,
            kind=PushPackage.Kind.ACCOUNT,
            name=name,
            size=upload.size or 0,
            created_at=now,
            created_by=created_by,
        )
        with opened(upload) as (chunks, is_csv):
            entries = _insert(package.pk, values(split_lines(chunks), tally, is_csv=is_csv))
        if not tally.lines:
            raise PackageError(PackageError.EMPTY, "the file has no line")
        if not tally.good:
            reasons = ", ".join(sorted({e["reason"] for e in tally.examples}))
            raise PackageError(
                PackageError.EMPTY,
                f"no line is an account or token ({tally.lines} lines, all bad: {reasons})",
            )
        package.kind = PushPackage.Kind.TOKEN if tally.all_tokens else PushPackage.Kind.ACCOUNT
        package.lines, package.entries = tally.lines, entries
        package.bad_lines, package.bad_examples = tally.bad, tally.examples
        package.save(update_fields=["kind", "lines", "entries", "bad_lines", "bad_examples"])
    return package


class opened:
    """``with opened(upload) as (chunks, is_csv)``: the bytes of the package's text, read
    ``CHUNK`` at a time, from the file itself or from the single member of its zip."""

    def __init__(self, upload: UploadedFile):
        self.upload, self.archive = upload, None

    def __enter__(self) -> tuple[Iterator[bytes], bool]:
        suffix = PurePosixPath(self.upload.name.lower()).suffix
        if suffix not in (*SUFFIXES, ZIP):
            raise PackageError(PackageError.FORMAT, "must be a .zip, .txt or .csv file")
        self.upload.seek(0)
        if suffix != ZIP:
            return _read(self.upload, MAX_FILE_BYTES), suffix == ".csv"
        try:
            self.archive = zipfile.ZipFile(self.upload.file)
        except (zipfile.BadZipFile, OSError):
            raise PackageError(PackageError.FORMAT, "not a zip archive") from None
        member = _member(self.archive)
        try:
            stream = self.archive.open(member)
        except (NotImplementedError, RuntimeError, zipfile.BadZipFile) as exc:
            raise PackageError(PackageError.FORMAT, f"cannot read the zip: {exc}") from None
        return _inflated(stream, member.filename), member.filename.lower().endswith(".csv")

    def __exit__(self, *exc) -> None:
        if self.archive is not None:
            self.archive.close()


def _member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The zip's one ``.txt`` or ``.csv`` (macOS's ``__MACOSX/`` resource forks ignored)."""
    members = [i for i in archive.infolist() if not i.filename.startswith("__MACOSX/")]
    files = [i for i in members if not i.is_dir()]
    if len(files) != 1 or len(members) != 1:
        raise PackageError(
            PackageError.FORMAT,
            f"a zip must hold a single .txt or .csv file and no folder; this one has "
            f"{len(files)} files and {len(members) - len(files)} folders",
        )
    [member] = files
    if "/" in member.filename:
        raise PackageError(PackageError.FORMAT, "the zip's file must not be in a folder")
    if PurePosixPath(member.filename.lower()).suffix not in SUFFIXES:
        raise PackageError(PackageError.FORMAT, "the zip's file must be a .txt or .csv file")
    if member.flag_bits & 0x1:
        raise PackageError(PackageError.FORMAT, "the zip is encrypted")
    return member


def _read(stream, limit: int) -> Iterator[bytes]:
    read = 0
    while chunk := stream.read(CHUNK):
        read += len(chunk)
        if read > limit:
            raise PackageError(PackageError.SIZE, f"at most {limit // 2**20} MB")
        yield chunk


def _inflated(member, name: str) -> Iterator[bytes]:
    # A corrupt member shows only as it is inflated (a bad CRC at its end): the whole upload
    # is then refused, its rows rolled back with it.
    try:
        with member:
            yield from _read(member, MAX_UNZIPPED_BYTES)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise PackageError(PackageError.FORMAT, f"cannot unzip {name}: {exc}") from None


def _insert(package_id: int, rows: Iterator[str]) -> int:
    """Store the distinct ``rows`` of a package; returns how many were stored."""
    if connection.vendor == "postgresql":
        return _copy(package_id, rows)
    batch = []
    for value in rows:
        batch.append(PushPackageEntry(package_id=package_id, value=value))
        if len(batch) >= INSERT_BATCH:
            PushPackageEntry.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    PushPackageEntry.objects.bulk_create(batch, ignore_conflicts=True)
    return PushPackageEntry.objects.filter(package_id=package_id).count()


def _copy(package_id: int, rows: Iterator[str]) -> int:
    """COPY the rows into a temporary table as they come, then one INSERT … SELECT DISTINCT
    (duplicates in the file are common: a list exported twice)."""
    table = PushPackageEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE push_package_upload (value varchar(200)) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY push_package_upload (value) FROM STDIN") as copy:
            for value in rows:
                copy.write_row((value,))
        cursor.execute(
            f"INSERT INTO {table} (package_id, value) "
            "SELECT DISTINCT %s::bigint, value FROM push_package_upload "
            "ON CONFLICT DO NOTHING",
            [package_id],
        )
        stored = cursor.rowcount
        # Dropped now, not only at commit: a second upload in the same transaction (a test's)
        # creates it again.
        cursor.execute("DROP TABLE push_package_upload")
    return stored
