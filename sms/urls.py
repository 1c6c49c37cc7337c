"""Console pages of the SMS platform, under /a/<account_id>/sms/."""

from django.urls import path

from . import views

urlpatterns = [
    path("signatures/", views.signatures, name="sms_signatures"),
    path("signatures/<int:pk>/", views.signature_detail, name="sms_signature"),
    path("templates/", views.templates, name="sms_templates"),
    path("templates/<int:pk>/", views.template_detail, name="sms_template"),
    path("applications/", views.applications, name="sms_applications"),
    path("policy/", views.policy, name="sms_policy"),
    path("policy/identity/", views.apply_identity, name="sms_apply_identity"),
    path("packages/", views.packages, name="sms_packages"),
    path("records/", views.records, name="sms_records"),
]
