from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class PushconsoleConfig(AppConfig):
    """The project itself: console shell, recurring schedules, operator commands."""

    name = "pushconsole"
    verbose_name = "Console"

    def ready(self):
        from .schedules import ensure_schedules

        # Sent once django_q's tables exist (this app has no models, so none is sent for it).
        post_migrate.connect(ensure_schedules, sender=apps.get_app_config("django_q"))
