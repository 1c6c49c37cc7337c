from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SmsConfig(AppConfig):
    name = "sms"
    verbose_name = _("SMS")

    def ready(self):
        from .review import ensure_reviewers_group

        post_migrate.connect(ensure_reviewers_group, sender=self)
