"""Importing a tag: a CSV (or .txt, or a .zip of one) of tokens or accounts whose devices get a
tag added or removed, with a per-line error report.

Upload (``create``, in the request): the file is read as packages are (``push.packages``: the
same formats, size limit and line rules, streaming) and every line that is not blank is staged
as a ``TagImportLine`` with its problem if it has one (bad format, not a token); a first line
that names the column (``token``, ``account``) is skipped. A file with no good line is refused
(``PackageError``), and then nothing is written.

Apply (``run``, a django-q2 task): the staged lines are taken ``CHUNK`` line numbers at a time,
each chunk in one transaction with the job row locked: the lines that name no device of the
application are marked ``unknown``, the tag is added (``tags.add_to``: one INSERT … SELECT, with
the per-device cap) or removed (``tags.remove_from``: one DELETE) for the chunk's devices, the
lines of devices the cap refused are marked ``cap``, the good lines are deleted, and the job's
``done_lines`` moves to the chunk's end. So a task that dies mid-way loses at most the chunk it
was in (rolled back whole), and the next run starts after the last committed chunk: nothing is
applied twice (adding or removing a tag twice is no change either). A run claims the job with a
conditional update and a lease (``LEASE``); django-q2 re-delivers a task whose worker died, and
the operator may resume a stalled job from its page.
"""

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts import audit

from . import packages, tags
from .models import TOKEN_MAX_LENGTH, Application, Device, DeviceAccount, TagImport, TagImportLine

CHUNK = 10_000  # line numbers per transaction
LEASE = timedelta(seconds=120)  # a running job without a heartbeat this long has lost its worker
TASK_SECONDS = 60  # a task hands on to a new one after this long (the cluster kills at 240 s)
STAGE_BATCH = 5000  # rows per INSERT where COPY is not available
HEADERS = {"token", "tokens", "account", "accounts", "account_id", "account id"}

Problem = TagImportLine.Problem


def _staged(job: TagImport, lines) -> Iterator[tuple[int, str, str, str]]:
    """(line, value, problem, detail) for each line of the file worth reporting or applying;
    ``job.lines`` counts every line and ``job.bad_lines`` the bad ones as they pass."""
    for number, value, reason, raw in packages.numbered(lines, is_csv=True):
        job.lines = number
        if value is None:
            if reason == "blank":
                continue  # an empty line says nothing: neither applied nor an error
            job.bad_lines += 1
            yield number, packages.printable(raw), Problem.FORMAT, reason
        elif number == 1 and value.casefold() in HEADERS:
            continue
        elif job.kind == TagImport.Kind.TOKEN and len(value) > TOKEN_MAX_LENGTH:
            job.bad_lines += 1
            yield number, value, Problem.NOT_TOKEN, ""
        else:
            yield number, value, Problem.NONE, ""


def _stage(job: TagImport, rows: Iterator[tuple[int, str, str, str]]) -> int:
    """Write the staged rows; returns how many of them are good."""
    good = 0
    if connection.vendor == "postgresql":
        table = TagImportLine._meta.db_table
        with connection.cursor() as cursor:
            sql = f"COPY {table} (job_id, line, value, problem, detail) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for line, value, problem, detail in rows:
                    good += not problem
                    copy.write_row((job.pk, line, value, problem, detail))
        return good
    batch = []
    for line, value, problem, detail in rows:
        good += not problem
        batch.append(TagImportLine(job=job, line=line, value=value, problem=problem, detail=detail))
        if len(batch) >= STAGE_BATCH:
            TagImportLine.objects.bulk_create(batch)
            batch = []
    TagImportLine.objects.bulk_create(batch)
    return good


def create(
    app: Application,
    upload: UploadedFile,
    *,
    kind: str,
    action: str,
    tag: str,
    account_type: int | None = None,
    by=None,
    now: datetime | None = None,
) -> TagImport:
    """Stage ``upload`` as a new import of ``app`` and queue its task (on commit). Raises
    ``packages.PackageError`` for a file refused whole, ``ValueError`` for a tag name
    ``tags.name_fault`` refuses; either way nothing is written. The audit trail gets the
    import in the same transaction."""
    now = now or timezone.now()
    if fault := tags.name_fault(tag):
        raise ValueError(f"tag: {fault}")
    packages.check_upload(upload)
    with transaction.atomic():
        job = TagImport.objects.create(
            application=app,
            kind=kind,
            action=action,
            tag=tag,
            account_type=account_type if kind == TagImport.Kind.ACCOUNT else None,
            name=upload.name,
            created_at=now,
            created_by=by,
        )
        with packages.opened(upload) as (chunks, _is_csv):
            good = _stage(job, _staged(job, packages.split_lines(chunks)))
        if not job.lines:
            raise packages.PackageError(packages.PackageError.EMPTY, "the file has no line")
        if not good:
            raise packages.PackageError(
                packages.PackageError.EMPTY, f"no line is a {job.get_kind_display().lower()}"
            )
        job.save(update_fields=["lines", "bad_lines"])
        audit.record(
            app.account,
            by,
            audit.AuditEvent.Action.DEVICES_TAGGED
            if action == TagImport.Action.ADD
            else audit.AuditEvent.Action.DEVICES_UNTAGGED,
            target=tag,
            detail={
                "application": app.name,
                "import": job.pk,
                "file": upload.name,
                "lines": job.lines,
            },
            now=now,
        )
        transaction.on_commit(lambda: queue(job.pk))
    return job


def queue(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("push.tasks.import_tags", job_id, task_name=f"tag import {job_id}")


def stalled(job: TagImport, now: datetime | None = None) -> bool:
    """Whether the job waits for a worker that is gone (resumable from its page)."""
    if job.state not in (TagImport.State.QUEUED, TagImport.State.RUNNING):
        return False
    return (job.heartbeat_at or job.created_at) < (now or timezone.now()) - LEASE


def claim(job_id: int, now: datetime) -> bool:
    """Take the job for this run: queued, or running without a heartbeat for ``LEASE``."""
    return bool(
        TagImport.objects.filter(pk=job_id)
        .filter(
            Q(state=TagImport.State.QUEUED)
            | Q(state=TagImport.State.RUNNING, heartbeat_at__lt=now - LEASE)
            | Q(state=TagImport.State.RUNNING, heartbeat_at__isnull=True)
        )
        .update(state=TagImport.State.RUNNING, heartbeat_at=now)
    )


def _devices_of(job: TagImport, values) -> tuple:
    """(the application's devices the lines ``values`` name, a condition on lines: "the line's
    value names one of ``among``", as a function of a device QuerySet)."""
    app_devices = Device.objects.filter(application_id=job.application_id)
    if job.kind == TagImport.Kind.TOKEN:
        devices = app_devices.filter(token__in=values)

        def naming(among):
            return Exists(among.filter(token=OuterRef("value")))

        return devices, naming
    links = DeviceAccount.objects.filter(application_id=job.application_id)
    if job.account_type is not None:
        links = links.filter(account_type=job.account_type)
    devices = app_devices.filter(pk__in=links.filter(account__in=values).values("device_id"))

    def naming(among):
        return Exists(links.filter(account=OuterRef("value"), device_id__in=among.values("pk")))

    return devices, naming


def step(job_id: int, *, chunk: int = CHUNK, now: datetime | None = None) -> TagImport | None:
    """Apply the next ``chunk`` line numbers of a running job, in one transaction; returns the
    job as it stands after (None if it is not running)."""
    now = now or timezone.now()
    with transaction.atomic():
        job = TagImport.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state != TagImport.State.RUNNING:
            return None
        first, last = job.done_lines + 1, min(job.done_lines + chunk, job.lines)
        in_chunk = TagImportLine.objects.filter(job_id=job.pk, line__gte=first, line__lte=last)
        good = in_chunk.filter(problem=Problem.NONE)
        devices, naming = _devices_of(job, good.values("value"))
        bad = good.filter(~naming(devices)).update(problem=Problem.UNKNOWN)
        if job.action == TagImport.Action.ADD:
            try:
                tagged = tags.add_to(job.application_id, devices, job.tag)
            except tags.AppTagLimit as exc:
                job.state, job.error, job.finished_at = TagImport.State.FAILED, str(exc), now
                job.save(update_fields=["state", "error", "finished_at"])
                return job
            job.changed += tagged.added
            bad += (
                good.filter(problem=Problem.NONE)
                .filter(naming(tagged.refused))
                .update(problem=Problem.CAP)
            )
        else:
            job.changed += tags.remove_from(job.application_id, devices, job.tag)
        good.filter(problem=Problem.NONE).delete()
        job.bad_lines += bad
        job.done_lines, job.heartbeat_at = last, now
        if last >= job.lines:
            job.state, job.finished_at = TagImport.State.DONE, now
        job.save(
            update_fields=[
                "done_lines",
                "changed",
                "bad_lines",
                "heartbeat_at",
                "state",
                "finished_at",
            ]
        )
    return job


def run(
    job_id: int,
    *,
    chunk: int = CHUNK,
    seconds: float = TASK_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = timezone.now,
) -> dict:
    """Claim the job and apply it chunk by chunk; after ``seconds`` hand on to a new task.
    Returns what was done."""
    if not claim(job_id, now()):
        return {"claimed": 0}
    started, chunks, job = clock(), 0, None
    while True:
        job = step(job_id, chunk=chunk, now=now())
        chunks += 1
        if job is None or job.state != TagImport.State.RUNNING:
            break
        if clock() - started >= seconds:
            # Released, so that the next task claims it at once rather than after the lease.
            TagImport.objects.filter(pk=job_id, state=TagImport.State.RUNNING).update(
                state=TagImport.State.QUEUED
            )
            transaction.on_commit(lambda: queue(job_id))
            break
    return {
        "claimed": 1,
        "chunks": chunks,
        "state": job.state if job else "",
        "done_lines": job.done_lines if job else 0,
    }


def resume(job: TagImport, now: datetime | None = None) -> bool:
    """Queue a stalled job again (its page's button); False if it is not stalled."""
    if not stalled(job, now):
        return False
    queue(job.pk)
    return True


def errors(job: TagImport):
    """The job's per-line error report so far, in line order."""
    return TagImportLine.objects.filter(job_id=job.pk).exclude(problem="").order_by("line")


def progress(job: TagImport, now: datetime | None = None) -> dict:
    """What the job page's progress bar polls."""
    return {
        "state": job.state,
        "state_label": str(job.get_state_display()),
        "lines": job.lines,
        "done_lines": job.done_lines,
        "percent": job.percent,
        "changed": job.changed,
        "bad_lines": job.bad_lines,
        "error": job.error,
        "stalled": stalled(job, now),
        "finished": job.state in (TagImport.State.DONE, TagImport.State.FAILED),
    }
