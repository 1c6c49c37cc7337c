"""/v3/...: the TPNS-compatible server API (reference §1–2). Anything else under /v3/ gets a
TPNS-shaped "not supported" answer, never an HTML page."""

from django.urls import path, re_path

from . import control, packages, plans, statistics, tags, views

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
        statistics.get_push_task_stat_channel,
        name="tpns-push-stat-channel",
    ),
    path("push/cancel_timing_task", control.cancel_timing_task, name="tpns-cancel-timing-task"),
    path("push/stop_push_msg", control.stop_push_msg, name="tpns-stop-push"),
    path("push/revoke_push_msg", control.revoke_push_msg, name="tpns-revoke-push"),
    path("push/package/upload", packages.upload, name="tpns-package-upload"),
    path("push/plan/add_plan_push", plans.add_plan_push, name="tpns-add-plan-push"),
    path("device/tag", tags.device_tag, name="tpns-device-tag"),
    path("device/tag/delete_all_device", tags.delete_all_device, name="tpns-tag-delete-all-device"),
    # TPNS's API page and its API overview name the daily overview and the plan aggregate
    # differently; both names answer.
    path(
        "statistics/get_push_channel_stat_overview",
        statistics.push_stat_overview,
        name="tpns-push-stat-overview",
    ),
    path("statistics/get_push_stat_overview", statistics.push_stat_overview),
    path("statistics/get_push_group_stat", statistics.push_group_stat, name="tpns-group-stat"),
    path("statistics/get_push_group_stat_channel", statistics.push_group_stat),
    path(
        "statistics/get_device_stat_overview",
        statistics.device_stat_overview,
        name="tpns-device-stat-overview",
    ),
    path(
        "statistics/get_device_distribute_info",
        statistics.device_distribute_info,
        name="tpns-device-distribution",
    ),
    path(
        "toolbox/getPushListByToken", statistics.push_list_by_token, name="tpns-push-list-by-token"
    ),
    path(
        "device/set_custom_attribute",
        statistics.set_custom_attribute,
        name="tpns-set-custom-attribute",
    ),
    re_path(r"^(?P<path>.*)$", views.unsupported, name="tpns-unsupported"),
]
