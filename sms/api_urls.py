"""The SMS management API, under /api/v1/sms/."""

from django.urls import path

from . import api

urlpatterns = [
    path("signatures", api.signatures, name="api-sms-signatures"),
    path("signatures/<int:pk>", api.signature_detail, name="api-sms-signature"),
    path("templates", api.templates, name="api-sms-templates"),
    path("templates/<int:pk>", api.template_detail, name="api-sms-template"),
    path("applications", api.applications, name="api-sms-applications"),
    path("policy", api.policy, name="api-sms-policy"),
    path("identity-applications", api.identity_applications, name="api-sms-identity-applications"),
    path("packages", api.packages, name="api-sms-packages"),
    path("send", api.send, name="api-sms-send"),
    path("messages", api.messages, name="api-sms-messages"),
    path("messages.csv", api.messages_csv, {"format": "csv"}, name="api-sms-messages-csv"),
]
