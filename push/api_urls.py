from django.urls import path

from . import api

urlpatterns = [
    path("<int:push_id>", api.push_detail, name="api-push-detail"),
    path("<int:push_id>/fallback-preview", api.fallback_preview, name="api-push-preview"),
    path("<int:push_id>/deliveries", api.delivery_list, name="api-push-deliveries"),
    path(
        "<int:push_id>/deliveries/<int:delivery_id>/timeline",
        api.delivery_timeline,
        name="api-delivery-timeline",
    ),
]
