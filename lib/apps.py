from django.apps import AppConfig


class LibConfig(AppConfig):
    """The library as an app: its lookups are registered and its template filters found."""

    name = "lib"
    verbose_name = "Library"

    def ready(self):
        from . import lookups  # noqa: F401  (registers field__any)
