"""Console pages of the push platform, under /a/<account_id>/push/."""

from django.urls import path

from . import channel_views, views

urlpatterns = [
    path("applications/", views.applications, name="push_applications"),
    path("applications/<int:pk>/", views.application_detail, name="push_application"),
    path(
        "applications/<int:pk>/rotate-secret",
        views.application_rotate,
        name="push_application_rotate",
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
