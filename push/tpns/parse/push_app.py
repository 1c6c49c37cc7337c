"""The body of /v3/push/app: an unsaved Push, or a TpnsError naming the first offending field."""

from datetime import datetime

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from push import channels
from push.models import Application, Platform, Push

from .. import invalid
from .audience import AUDIENCES, parse_audience
from .fields import INT64, Fields
from .message import parse_message
from .options import loop_occurrences, parse_options, parse_send_time
from .sms_info import parse_sms_info

ENVIRONMENTS = ("product", "dev")


def parse_push(app: Application, data: dict, *, now: datetime) -> Push:
    """Validate a /v3/push/app body for ``app``; returns an unsaved Push ready for
    ``fanout.accept`` (tokens skipped by ``ignore_invalid_token`` in ``invalid_targets``), or
    raises TpnsError naming the first offending field."""
    f = Fields(data)
    push = Push(application=app)
    if f.has("seq"):
        push.seq = f.integer("seq", minimum=INT64[0], maximum=INT64[1])

    kind = f.string("audience_type", required=True)
    if kind not in AUDIENCES:
        raise invalid(
            "audience_type",
            _("must be one of %(choices)s; got %(value)s"),
            choices=", ".join(AUDIENCES),
            value=repr(kind),
        )
    push.audience_type = AUDIENCES[kind]
    push.message_type = f.string("message_type", required=True, choices=Push.MessageType.values)
    parse_message(push, f, app)

    if app.platform == Platform.IOS:
        push.environment = f.string("environment", required=True, choices=ENVIRONMENTS)

    expire = f.integer(
        "expire_time", default=Push.EXPIRE_DEFAULT, minimum=0, maximum=Push.EXPIRE_MAX
    )
    # TPNS: 0 = real-time only; 1–799 is raised to 800.
    push.expire_time = Push.EXPIRE_FLOOR if 0 < expire < Push.EXPIRE_FLOOR else expire
    push.send_at = parse_send_time(f, push, now)

    push.options = parse_options(f, push)
    # A loop push is one push per occurrence (``submit``); the first decides the schedule.
    push.loop_occurrences = loop_occurrences(push, now)
    parse_audience(f, push)
    parse_sms_info(f, push, app)
    # What the app's push services cannot carry (a payload over 4 KB), refused now rather
    # than by the channel after fan-out.
    if (problem := channels.problems(push)) is not None:
        field, problem = problem
        # The channel module's English (it names the service and its limit) in the reader's
        # frame; the API answers the English alone.
        raise invalid(
            field,
            pgettext_lazy("a push service's limit, in its English", "%(problem)s"),
            problem=problem,
        )
    return push
