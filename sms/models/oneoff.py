"""A one-off SMS sent from the console: the send form's one-time token, and what it sent.

The form carries a random token; sending first inserts the row holding it, so a second post of
the same form (a double click, a reload, two tabs) hits ``sms_one_off_token_once`` and sends
nothing. The messages themselves are ordinary ``SmsMessage`` rows, sent through the API's path
(``sending.prepare`` / ``sending.send``) and found by their session context.
"""

import secrets

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from accounts.models import Account

from .messages import SmsMessage


def new_token() -> str:
    return secrets.token_urlsafe(32)


class OneOffSend(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Why the send stopped after its token was taken (the template was revoked a moment
    # before): nothing was sent, and the result page says so, in the words the sender read.
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "one-off SMS send"
        constraints = [
            models.UniqueConstraint(fields=["account", "token"], name="sms_one_off_token_once")
        ]

    def __str__(self):
        return f"One-off send {self.pk} of {self.account}"

    @classmethod
    def claim(cls, account, token: str, *, by, now=None) -> "OneOffSend | None":
        """Take the form's token: the new send, or None if a send of this token exists already
        (committed at once, so that a concurrent second post waits for it and then fails)."""
        try:
            with transaction.atomic():
                return cls.objects.create(
                    account=account, token=token, created_by=by, created_at=now or timezone.now()
                )
        except IntegrityError:
            return None

    @classmethod
    def send_once(cls, order, token: str, *, by, now=None) -> tuple["OneOffSend", bool]:
        """Send a prepared ``sending.SmsOrder`` unless a send of this token exists: (the send,
        whether it was sent now). The messages go through ``sending.send``, the API's path."""
        from sms import sending  # sending imports the models

        done = cls.claim(order.account, token, by=by, now=now)
        if done is None:
            return cls.objects.get(account=order.account, token=token), False
        order.session_context = done.session_context
        try:
            sending.send(order, now=now)
        except sending.SmsRejected as rejected:  # revoked since the form was checked
            done.error = rejected.for_people()
            done.save(update_fields=["error"])
        return done, True

    @property
    def session_context(self) -> str:
        """Stored on each of its messages (Tencent echoes it back in receipts)."""
        return f"console:{self.pk}"

    def messages(self):
        # Read through the records index (account, created_at): no index of its own needed.
        return SmsMessage.objects.filter(
            account_id=self.account_id,
            created_at__gte=self.created_at,
            session_context=self.session_context,
        ).order_by("id")
