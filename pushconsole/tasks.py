"""django-q2 entry points of the project itself (thin: the work is in models and modules)."""

from django.utils import timezone

from .schedules import result_retention


def clean_task_results(now=None) -> int:
    """Delete task results older than TASK_RESULT_RETENTION_DAYS (save_limit keeps them all)."""
    from django_q.models import Task

    cutoff = (now or timezone.now()) - result_retention()
    deleted, _ = Task.objects.filter(stopped__lt=cutoff).delete()
    return deleted
