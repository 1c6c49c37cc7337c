"""/sdk/v1/: the API the mobile SDK calls (``push.sdk``)."""

from django.urls import path

from .sdk import views

urlpatterns = [
    path("register", views.register, name="sdk-register"),
    path("phone", views.phone, name="sdk-phone"),
    path("accounts", views.accounts, name="sdk-accounts"),
    path("notification-state", views.notification_state, name="sdk-notification-state"),
    path("events", views.report_events, name="sdk-events"),
    path("messages", views.messages, name="sdk-messages"),
]
