"""Watermarks of recurring jobs."""

from django.db import models


class Checkpoint(models.Model):
    """How far a recurring job has got (for example reconciling lost sends): the next run
    starts there instead of from the beginning of the history."""

    name = models.CharField(max_length=50, unique=True)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name}: {self.at:%Y-%m-%d %H:%M:%S}"
