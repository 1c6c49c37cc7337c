"""Console pages of the push platform, under /a/<account_id>/push/."""

from django.urls import path

from . import application_views, channel_views, tag_views, views

urlpatterns = [
    path("applications/", views.applications, name="push_applications"),
    path("applications/<int:pk>/", views.application_detail, name="push_application"),
    path(
        "applications/<int:pk>/rotate-secret",
        views.application_rotate,
        name="push_application_rotate",
    ),
    path(
        "applications/<int:pk>/edit",
        application_views.application_edit,
        name="push_application_edit",
    ),
    path(
        "applications/<int:pk>/delete",
        application_views.application_delete,
        name="push_application_delete",
    ),
    path(
        "applications/<int:pk>/channels/<str:kind>/",
        channel_views.channel_detail,
        name="push_application_channel",
    ),
    path(
        "applications/<int:pk>/channels/<str:kind>/test",
        channel_views.channel_test,
        name="push_application_channel_test",
    ),
    path(
        "applications/<int:pk>/channels/<str:kind>/remove",
        channel_views.channel_remove,
        name="push_application_channel_remove",
    ),
    path("devices/", views.devices, name="push_devices"),
    path("devices/<int:pk>/", views.device_detail, name="push_device"),
    path("devices/tag", tag_views.devices_tag, name="push_devices_tag"),
    path("tags/", tag_views.tag_list, name="push_tags"),
    path("tags/imports/new", tag_views.import_new, name="push_tag_import_new"),
    path("tags/imports/<int:pk>/", tag_views.import_detail, name="push_tag_import"),
    path(
        "tags/imports/<int:pk>/progress",
        tag_views.import_progress,
        name="push_tag_import_progress",
    ),
    path(
        "tags/imports/<int:pk>/errors.csv", tag_views.import_errors, name="push_tag_import_errors"
    ),
    path("tags/imports/<int:pk>/resume", tag_views.import_resume, name="push_tag_import_resume"),
    path("pushes/", views.pushes, name="push_pushes"),
    path("pushes/new/", views.compose, name="push_compose"),
    path("pushes/<int:pk>/", views.push_detail, name="push_push"),
    path("pushes/<int:pk>/edit", views.push_edit, name="push_push_edit"),
    path("pushes/<int:pk>/cancel", views.push_cancel, name="push_push_cancel"),
    path("pushes/<int:pk>/stop", views.push_stop, name="push_push_stop"),
    path(
        "pushes/<int:pk>/deliveries/<int:delivery_id>/",
        views.delivery_detail,
        name="push_delivery",
    ),
]
