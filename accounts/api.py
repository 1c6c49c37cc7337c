"""Management API for accounts: /api/v1/me, /api/v1/accounts/..."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from lib.api import error

from . import team
from .models import Membership, Role
from .serializers import (
    AccountSerializer,
    AuthorizationSerializer,
    AuthorizeSerializer,
    MemberSerializer,
    MeSerializer,
)


def membership(request, account_id, minimum=Role.VIEWER) -> Membership:
    """The caller's membership of the account: 404 if none, 403 if the role is too low."""
    found = Membership.objects.of(request.user, account_id)
    if found is None:
        raise Http404
    found.require(minimum)
    return found


def _user_accounts(user) -> list:
    """The user's accounts with the user's role in each, from one query."""
    memberships = list(user.memberships.select_related("account"))
    roles = {m.account_id: m.role for m in memberships}
    accounts = [m.account for m in memberships]
    return AccountSerializer(accounts, many=True, context={"roles": roles}).data


@extend_schema(summary="The key's owner and the accounts it may use", responses=MeSerializer)
@api_view(["GET"])
def me(request):
    return Response(
        {
            "username": request.user.username,
            "secret_id": request.auth.secret_id,
            "accounts": _user_accounts(request.user),
        }
    )


@extend_schema(responses=AccountSerializer(many=True))
@api_view(["GET"])
def account_list(request):
    return Response(_user_accounts(request.user))


@extend_schema(request=AccountSerializer, responses=AccountSerializer)
@api_view(["GET", "PATCH"])
def account_detail(request, account_id):
    found = membership(request, account_id, Role.VIEWER if request.method == "GET" else Role.ADMIN)
    context = {"roles": {found.account_id: found.role}}
    if request.method == "PATCH":
        serializer = AccountSerializer(
            found.account, data=request.data, partial=True, context=context
        )
        serializer.is_valid(raise_exception=True)
        # The console's path too: the rules, and an audit event in the same transaction.
        try:
            team.update_settings(found.account, request.user, **serializer.validated_data)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response(AccountSerializer(found.account, context=context).data)
    return Response(AccountSerializer(found.account, context=context).data)


@extend_schema(responses=MemberSerializer(many=True))
@api_view(["GET"])
def member_list(request, account_id):
    found = membership(request, account_id)
    members = found.account.memberships.select_related("user")
    return Response(MemberSerializer(members, many=True).data)


@extend_schema(request=AuthorizeSerializer, responses=AuthorizationSerializer)
@sensitive_variables("serializer")
@api_view(["GET", "PUT", "DELETE"])
def authorization(request, account_id):
    """The Tencent Cloud key pair used for this account's SMS (its SecretKey is never shown)."""
    minimum = Role.VIEWER if request.method == "GET" else Role.ADMIN
    account = membership(request, account_id, minimum).account
    if request.method == "PUT":
        serializer = AuthorizeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        auth = account.authorize_tencent_cloud(**serializer.validated_data, by=request.user)
        return Response(AuthorizationSerializer(auth).data)
    auth = account.find_authorization()
    if auth is None:
        return error("not_found", "This account has no Tencent Cloud authorization.", 404)
    if request.method == "DELETE":
        auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(AuthorizationSerializer(auth).data)
