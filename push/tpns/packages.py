"""POST /v3/push/package/upload: a number (account) or token package, as multipart/form-data
``file`` → ``{retCode, errMsg, uploadId}`` (TPNS's number package and token package upload
pages: one endpoint, camel-cased answers). ``uploadId`` is the package's id, which a push names
as ``upload_id`` (``package_account_push`` / ``package_token_push``).

The body is never read whole: the upload handlers of this request refuse a file over TPNS's
100 MB while it streams in (a Content-Length over it is refused before reading), small files
stay in memory and larger ones spill to a temporary file, which ``push.packages`` reads line by
line. Refusals: no ``file`` 1008002, a file name out of [1, 100] 1008007, a file TPNS does not
take (suffix, zip layout, over 100 MB) 1008011, an empty file or one with no good line 1008012.
A signed request (Sign) covers the raw body, which is then read into memory to be checked, so
it is limited to ``DATA_UPLOAD_MAX_MEMORY_SIZE``; Basic auth, which every TPNS upload example
uses, has no such limit.
"""

from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadhandler import (
    FileUploadHandler,
    MemoryFileUploadHandler,
    StopUpload,
    TemporaryFileUploadHandler,
)
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from push import packages
from push.models import Application

from . import RetCode, TpnsError, invalid, missing
from .api import NO_ERROR, tpns_api
from .auth import now as clock_now

# The multipart envelope around the file (boundaries, part headers, a fileName field as
# TPNS's Python example sends): what a Content-Length may exceed the file limit by.
ENVELOPE_BYTES = 64 * 1024

CODES = {
    packages.PackageError.NAME: RetCode.INVALID,
    packages.PackageError.FORMAT: RetCode.UPLOAD_FAILED,
    packages.PackageError.SIZE: RetCode.UPLOAD_FAILED,
    packages.PackageError.EMPTY: RetCode.EMPTY_FILE,
}


def _too_large() -> TpnsError:
    return TpnsError(RetCode.UPLOAD_FAILED, f"file: at most {packages.MAX_FILE_BYTES // 2**20} MB")


class SizeLimit(FileUploadHandler):
    """First of the request's upload handlers: counts the bytes of every file part and stops
    the upload, without reading the rest of the body, once they pass ``limit``."""

    def __init__(self, request: HttpRequest, limit: int):
        super().__init__(request)
        self.limit, self.received, self.exceeded = limit, 0, False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


@tpns_api(camel=True)
def upload(request: HttpRequest, app: Application) -> dict:
    limit = packages.MAX_FILE_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit + ENVELOPE_BYTES:
        raise _too_large()
    guard = SizeLimit(request, limit)
    request.upload_handlers = [
        guard,
        MemoryFileUploadHandler(request),
        TemporaryFileUploadHandler(request),
    ]
    try:
        files = request.FILES.getlist("file")
    except MultiPartParserError as exc:
        raise TpnsError(
            RetCode.PARSE_ERROR, f"file: malformed multipart/form-data: {exc}"
        ) from None
    except SuspiciousOperation:  # more files than DATA_UPLOAD_MAX_NUMBER_FILES
        raise invalid("file", "give one file") from None
    if guard.exceeded:
        raise _too_large()
    if not files:
        raise missing("file", "required: the package file, as multipart/form-data")
    if len(files) > 1:
        raise invalid("file", f"give one file; got {len(files)}")
    try:
        package = packages.store(app, files[0], now=clock_now())
    except packages.PackageError as exc:
        raise TpnsError(CODES[exc.kind], exc.message) from None
    return {"retCode": RetCode.OK.value, "errMsg": NO_ERROR, "uploadId": package.pk}
