"""Endpoints only for the benchmark (mounted when BENCH_ENDPOINTS=true): the limits that the
real endpoints are measured against."""

from django.urls import path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.response import Response


@api_view(["POST"])
@authentication_classes([])
@permission_classes([])
def parse_only(request):
    """A bare DRF endpoint that parses the body it gets, and nothing else."""
    data = request.data
    return Response({"ret_code": 0, "fields": len(data)})


urlpatterns = [path("parse", parse_only)]
