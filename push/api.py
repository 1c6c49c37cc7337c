"""Management API for pushes (/api/v1/pushes/...): figures, fallback preview, timelines."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from accounts.models import Membership

from . import stats
from .models import Delivery, Push
from .preview import preview
from .timeline import timeline


def push_for(request, push_id) -> Push:
    """A push of one of the caller's accounts, else 404."""
    accounts = Membership.objects.filter(user=request.user).values("account_id")
    push = (
        Push.objects.select_related("application__account")
        .filter(pk=push_id, application__account_id__in=accounts)
        .first()
    )
    if push is None:
        raise Http404
    return push


FREE_FORM = inline_serializer("Figures", fields={"push_id": serializers.CharField()})


@extend_schema(
    summary="A push's delivery funnel and supplementary-SMS figures",
    responses=FREE_FORM,
)
@api_view(["GET"])
def push_detail(request, push_id):
    push = push_for(request, push_id)
    return Response(
        {
            **stats.summary(push),
            "application": push.application.access_id,
            "audience_type": push.audience_type,
            "title": push.title,
            "created_at": push.created_at,
            "sms_info": {"resend_by_sms": push.resend_by_sms, **push.tpns_sms_info()},
            # What its SMS are sent with: pinned when the push was accepted.
            "sms_pinned": {
                "template_id": push.pinned_template.code if push.pinned_template else None,
                "sign_name": push.pinned_signature.text if push.pinned_signature else None,
            },
        }
    )


@extend_schema(
    summary="If the supplementary-SMS decision ran now",
    description="How many undecided deliveries would get an SMS, how many are skipped and why, "
    "the estimated fee, and whether the package balance covers it. Writes nothing.",
    responses=inline_serializer("FallbackPreview", fields={"enabled": serializers.BooleanField()}),
)
@api_view(["GET"])
def fallback_preview(request, push_id):
    return Response(preview(push_for(request, push_id)))


class DeliveryPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class DeliveryPageQuery(serializers.Serializer):
    """The paging parameters, checked so that a bad one is a 400 naming it (the pagination
    itself would quietly fall back to its defaults). An empty or 0 limit means the default."""

    limit = serializers.IntegerField(required=False, min_value=0)
    offset = serializers.IntegerField(required=False, min_value=0)


@extend_schema(
    summary="A push's deliveries with their decision",
    description="Device tokens are masked for viewers (as in the console), in full for "
    "operators and above.",
    parameters=[
        OpenApiParameter("outcome", str, description=", ".join(Delivery.Outcome.values)),
        OpenApiParameter("limit", int),
        OpenApiParameter("offset", int),
    ],
    responses=inline_serializer("Deliveries", fields={"count": serializers.IntegerField()}),
)
@api_view(["GET"])
def delivery_list(request, push_id):
    push = push_for(request, push_id)
    masking = Membership.objects.of(request.user, push.application.account_id).masking
    qs = Delivery.objects.filter(push=push).select_related("device").order_by("pk")
    if request.query_params.get("outcome"):
        qs = qs.filter(outcome=request.query_params["outcome"])
    DeliveryPageQuery(data=request.query_params).is_valid(raise_exception=True)
    paginator = DeliveryPagination()
    rows = paginator.paginate_queryset(qs, request)
    return Response(
        {
            "count": paginator.count,
            "results": [
                {
                    "id": d.pk,
                    "token": masking.token(d.device.token),
                    "state": d.state,
                    "sent_at": d.sent_at,
                    "arrived_at": d.arrived_at,
                    "clicked_at": d.clicked_at,
                    "notifications_enabled": d.notifications_enabled,
                    "fallback": d.fallback,
                    "sms_due_at": d.sms_due_at,
                    "outcome": d.outcome,
                    "outcome_detail": d.outcome_detail,
                    "decided_at": d.decided_at,
                }
                for d in rows
            ],
        }
    )


@extend_schema(
    summary="One delivery's timeline",
    responses=inline_serializer("Timeline", fields={"events": serializers.ListField()}),
)
@api_view(["GET"])
def delivery_timeline(request, push_id, delivery_id):
    push = push_for(request, push_id)
    delivery = (
        Delivery.objects.select_related("device", "push").filter(push=push, pk=delivery_id).first()
    )
    if delivery is None:
        raise Http404
    return Response({"delivery": delivery.pk, "events": timeline(delivery)})
