"""Console pages of the SMS platform, under /a/<account_id>/sms/."""

from django.urls import path

from . import package_views, views

urlpatterns = [
    path("signatures/", views.signatures, name="sms_signatures"),
    path("signatures/<int:pk>/", views.signature_detail, name="sms_signature"),
    path("signatures/<int:pk>/edit/", views.signature_change, name="sms_signature_change"),
    path("signatures/<int:pk>/withdraw/", views.signature_withdraw, name="sms_signature_withdraw"),
    path("templates/", views.templates, name="sms_templates"),
    path("templates/<int:pk>/", views.template_detail, name="sms_template"),
    path("templates/<int:pk>/edit/", views.template_change, name="sms_template_change"),
    path("templates/<int:pk>/withdraw/", views.template_withdraw, name="sms_template_withdraw"),
    path("send/", views.send_sms, name="sms_send"),
    path("send/<int:pk>/", views.send_result, name="sms_send_result"),
    path("applications/", views.applications, name="sms_applications"),
    path("policy/", views.policy, name="sms_policy"),
    path("policy/identity/", views.apply_identity, name="sms_apply_identity"),
    path("packages/", package_views.packages, name="sms_packages"),
    path("packages/new/", package_views.record_package, name="sms_package_new"),
    path("records/", views.records, name="sms_records"),
    path("records/<int:pk>/", views.record_detail, name="sms_record"),
]
