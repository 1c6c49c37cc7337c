from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PushConfig(AppConfig):
    name = "push"
    verbose_name = _("Push")

    def ready(self):
        from accounts import crypto
        from sms import sources

        from .sms_source import PUSH_DELIVERY

        sources.register(PUSH_DELIVERY)

        for field in (
            "push.Application.secret_sealed",
            "push.ChannelCredentials.secret_sealed",
            "push.ChannelCredentials.receipt_key_sealed",
        ):
            if field not in crypto.SEALED_FIELDS:
                crypto.SEALED_FIELDS.append(field)
