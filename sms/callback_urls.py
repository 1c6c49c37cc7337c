"""Provider callbacks of the SMS platform, under /callbacks/sms/ (no session, no CSRF)."""

from django.urls import path

from . import callbacks

urlpatterns = [
    path("<str:token>", callbacks.status_report, name="sms_status_report"),
]
