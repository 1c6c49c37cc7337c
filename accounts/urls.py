"""Console pages of an account's team, settings and audit trail, under /a/<account_id>/.
(The invitation link, /invitations/<token>/, has no account in its path: pushconsole.urls.)"""

from django.urls import path

from . import team_views

urlpatterns = [
    path("team/", team_views.team_page, name="team"),
    path("team/invite", team_views.team_invite, name="team_invite"),
    path(
        "team/invitations/<id:invitation_id>/resend",
        team_views.invitation_resend,
        name="invitation_resend",
    ),
    path(
        "team/invitations/<id:invitation_id>/revoke",
        team_views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("team/members/<id:membership_id>/role", team_views.member_role, name="member_role"),
    path("team/members/<id:membership_id>/remove", team_views.member_remove, name="member_remove"),
    path("team/transfer", team_views.team_transfer, name="team_transfer"),
    path("settings/", team_views.account_settings, name="account_settings"),
    path("audit/", team_views.audit_trail, name="audit_trail"),
]
