"""Console pages of an account's team, its settings and its audit trail, and the page an
invitation link opens. The rules live in ``accounts.team``; these views check the role a page
needs, parse, call one function and render."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import authenticate, get_user_model, login
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from lib.paging import CappedPaginator

from . import team
from .audit import AuditEvent
from .decorators import account_view
from .invitations import Invitation
from .models import Membership, Role
from .team_forms import (
    AccountSettingsForm,
    AuditFilterForm,
    ExistingUserForm,
    InviteForm,
    NewUserForm,
    RoleForm,
    TransferForm,
)

AUDIT_PAGE_SIZE = 50
# What logging in after accepting uses (several backends are configured: django-axes first).
LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _link_for(request):
    return lambda token: request.build_absolute_uri(reverse("invitation", args=[token]))


def _sent_message(request, sent: team.Sent, verb: str) -> None:
    if sent.mailed is False:
        messages.error(
            request,
            _("The invitation to %(email)s is saved but its e-mail could not be sent; resend it.")
            % {"email": sent.invitation.email},
        )
    else:
        messages.success(request, verb % {"email": sent.invitation.email})


def _team_page(request, *, invite_form=None, status=200):
    account, me = request.account, request.membership
    can_manage = me.has_role(Role.ADMIN) and account.is_organization
    members = account.memberships.select_related("user").order_by("created_at", "id")
    invitations = []
    if can_manage:
        now = timezone.now()
        invitations = [
            (invitation, invitation.status(now))
            for invitation in Invitation.objects.open()
            .filter(account=account)
            .select_related("invited_by")
        ]
    return render(
        request,
        "accounts/team.html",
        {
            "members": members,
            "invitations": invitations,
            "can_manage": can_manage,
            "is_owner": me.role == Role.OWNER,
            "invite_form": invite_form or InviteForm(),
            "role_choices": team.assignable_roles(me),
            "lifetime_days": team.INVITATION_LIFETIME.days,
        },
        status=status,
    )


@account_view()
def team_page(request):
    return _team_page(request)


@require_POST
@account_view(Role.ADMIN)
def team_invite(request):
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            sent = team.invite(
                request.account,
                request.user,
                form.cleaned_data["email"],
                form.cleaned_data["role"],
                url_for=_link_for(request),
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        except team.TeamRuleError as exc:
            form.add_error(None, str(exc))
        else:
            _sent_message(request, sent, _("Invitation sent to %(email)s."))
            return redirect("team", account_id=request.account.pk)
    return _team_page(request, invite_form=form, status=400)


@require_POST
@account_view(Role.ADMIN)
def invitation_resend(request, invitation_id):
    try:
        sent = team.resend(request.account, request.user, invitation_id, url_for=_link_for(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except team.TeamRuleError as exc:
        messages.error(request, str(exc))
    else:
        _sent_message(
            request, sent, _("Invitation sent again to %(email)s; the old link no longer works.")
        )
    return redirect("team", account_id=request.account.pk)


@require_POST
@account_view(Role.ADMIN)
def invitation_revoke(request, invitation_id):
    try:
        invitation = team.revoke(request.account, request.user, invitation_id)
    except team.TeamRuleError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Invitation to %(email)s revoked; its link no longer works.")
            % {"email": invitation.email},
        )
    return redirect("team", account_id=request.account.pk)


@require_POST
@account_view(Role.ADMIN)
def member_role(request, membership_id):
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role: admin, operator or viewer."))
        return redirect("team", account_id=request.account.pk)
    try:
        member = team.change_role(
            request.account, request.user, membership_id, form.cleaned_data["role"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except team.TeamRuleError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("%(user)s is now %(role)s.")
            % {"user": member.user.get_username(), "role": member.get_role_display()},
        )
    return redirect("team", account_id=request.account.pk)


@account_view()
def member_remove(request, membership_id):
    """GET: what removing (or leaving) means, with a confirm button; POST: do it."""
    account = request.account
    member = (
        Membership.objects.select_related("user").filter(account=account, pk=membership_id).first()
    )
    leaving = member is not None and member.user_id == request.user.pk
    if not leaving:
        request.membership.require(Role.ADMIN)  # 403 for lower roles
    if member is None:
        messages.error(request, _("This person is no longer a member of the account."))
        return redirect("team", account_id=account.pk)
    if request.method == "POST":
        try:
            team.remove_member(account, request.user, membership_id)
        except team.TeamRuleError as exc:
            messages.error(request, str(exc))
            return redirect("team", account_id=account.pk)
        if leaving:
            messages.success(request, _("You left %(account)s.") % {"account": account.name})
            request.session.pop("account_id", None)
            return redirect("home")
        messages.success(
            request,
            _("%(user)s was removed from %(account)s.")
            % {"user": member.user.get_username(), "account": account.name},
        )
        return redirect("team", account_id=account.pk)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    return render(
        request,
        "accounts/team_remove.html",
        {"member": member, "leaving": leaving, "is_owner_target": member.role == Role.OWNER},
    )


@account_view(Role.OWNER)
def team_transfer(request):
    account = request.account
    members = (
        account.memberships.select_related("user")
        .exclude(user=request.user)
        .order_by("user__username")
    )
    form = TransferForm(request.POST or None, members=members)
    if not account.is_organization:
        form = None
    elif request.method == "POST" and form.is_valid():
        try:
            member = team.transfer_ownership(account, request.user, form.cleaned_data["member"])
        except team.TeamRuleError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("%(user)s is now the owner of %(account)s; you are an admin.")
                % {"user": member.user.get_username(), "account": account.name},
            )
            return redirect("team", account_id=account.pk)
    return render(
        request,
        "accounts/team_transfer.html",
        {"form": form, "has_members": bool(members)},
        status=400 if form is not None and form.errors else 200,
    )


@account_view()
def account_settings(request):
    account = request.account
    can_change = request.membership.has_role(Role.ADMIN)
    form = AccountSettingsForm(request.POST or None, account=account)
    if request.method == "POST":
        if not can_change:
            messages.error(
                request, _("Only the owner and admins can change the account's settings.")
            )
            return redirect("account_settings", account_id=account.pk)
        if form.is_valid():
            try:
                done = team.update_settings(account, request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, _("Settings saved.") if done else _("Nothing changed."))
                return redirect("account_settings", account_id=account.pk)
    return render(
        request,
        "accounts/account_settings.html",
        {"form": form, "can_change": can_change},
        status=400 if form.errors else 200,
    )


@account_view(Role.ADMIN)
def audit_trail(request):
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.filter(account=request.account).select_related("actor")
    action = ""
    if form.is_valid():
        action = form.cleaned_data["action"]
        if action:
            events = events.filter(action=action)
    page = CappedPaginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/audit.html",
        {
            "form": form,
            "page": page,
            "query": urlencode({"action": action}) if action else "",
        },
        status=400 if form.errors else 200,
    )


# --------------------------------------------------------------------------------------------
# The invitation link (no account in the URL: the invitee is not a member yet)


def _unusable(request, status: str, invitation=None):
    with timezone.override(invitation.account.tz if invitation else None):
        return render(
            request,
            "accounts/invitation_unusable.html",
            {"status": status, "invitation": invitation},
            status=404 if status == "invalid" else 410,
        )


def _joined(request, membership):
    request.session["account_id"] = membership.account_id
    messages.success(
        request,
        _("Welcome to %(account)s: you joined as %(role)s.")
        % {"account": membership.account.name, "role": membership.get_role_display()},
    )
    return redirect("overview", account_id=membership.account_id)


@never_cache
@sensitive_post_parameters("password", "password1", "password2")
def invitation(request, token):
    try:
        found = team.usable_invitation(token)
    except team.InvitationUnusable as exc:
        return _unusable(request, exc.status, exc.invitation)
    if found is None:
        return _unusable(request, "invalid")

    users = list(get_user_model().objects.filter(email__iexact=found.email).order_by("pk")[:2])
    if request.user.is_authenticated:
        matches = team.normalize_email(request.user.email) == found.email
        mode = "join" if matches else "wrong_user"
    elif len(users) == 1:
        mode = "password"
    elif users:
        mode = "login"  # several users share the address: they log in as the one they mean
    else:
        mode = "new"
    form = {
        "password": ExistingUserForm,
        "new": NewUserForm,
    }.get(mode)
    if form is not None:
        initial = {"username": found.email} if mode == "new" else None
        form = form(request.POST or None, initial=initial)

    if request.method == "POST" and mode in ("join", "password", "new"):
        try:
            if mode == "join":
                return _joined(request, team.accept(token, request.user))
            if form.is_valid():
                if mode == "password":
                    user = authenticate(
                        request,
                        username=users[0].get_username(),
                        password=form.cleaned_data["password"],
                    )
                    if user is None:
                        form.add_error("password", _("This password is not right."))
                    else:
                        membership = team.accept(token, user)
                        login(request, user, backend=LOGIN_BACKEND)
                        return _joined(request, membership)
                else:
                    membership = team.accept_as_new_user(
                        token,
                        username=form.cleaned_data["username"],
                        password=form.cleaned_data["password1"],
                    )
                    login(request, membership.user, backend=LOGIN_BACKEND)
                    return _joined(request, membership)
        except team.InvitationUnusable as exc:
            return _unusable(request, exc.status, exc.invitation)
        except ValidationError as exc:
            _add_errors(form, exc)
        except team.TeamRuleError as exc:
            messages.error(request, str(exc))
    elif request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])

    with timezone.override(found.account.tz):  # the expiry as labelled: the account's zone
        return render(
            request,
            "accounts/invitation.html",
            {
                "invitation": found,
                "mode": mode,
                "form": form,
                "login_url": reverse("login") + "?" + urlencode({"next": request.path}),
            },
            status=400 if form is not None and form.errors else 200,
        )
