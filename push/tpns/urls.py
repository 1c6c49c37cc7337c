"""/v3/...: the TPNS-compatible server API (reference §1–2). Anything else under /v3/ gets a
TPNS-shaped "not supported" answer, never an HTML page."""

from django.urls import path, re_path

from . import views

urlpatterns = [
    path("push/app", views.push_app, name="tpns-push-app"),
    path(
        "device/account/batchoperate",
        views.account_batchoperate,
        name="tpns-account-batchoperate",
    ),
    path("device/account/query", views.account_query, name="tpns-account-query"),
    path("statistics/get_push_record", views.get_push_record, name="tpns-push-record"),
    path(
        "statistics/get_push_task_stat_channel",
        views.get_push_task_stat_channel,
        name="tpns-push-stat-channel",
    ),
    re_path(r"^(?P<path>.*)$", views.unsupported, name="tpns-unsupported"),
]
