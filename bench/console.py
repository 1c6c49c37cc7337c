"""Figure 5: server time of the dashboard and of a push page with N deliveries and N/10 SMS
records, vs a page that does no database work (the login page) in the same run."""

import statistics
import time

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Role
from push import rollup

from .common import cleanup, make_devices, tenant
from .fallback import sms_push_to_all, sms_ready

REPEAT = 5


def _server_ms(client, path) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(path, HTTP_HOST="127.0.0.1")
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times) * 1000


def run(size: int) -> dict:
    account, app = tenant("console")
    user = get_user_model().objects.create_user(f"bench-{account.pk}", password="x")  # noqa: S106
    try:
        Membership.objects.create(user=user, account=account, role=Role.OWNER)
        make_devices(app, size, phones=True)
        sms_ready(account, size)
        push = sms_push_to_all(app)
        now = timezone.now()
        with connection.cursor() as cursor:
            # A tenth of the deliveries arrived; SMS records for a tenth of the numbers.
            cursor.execute(
                "UPDATE push_delivery SET arrived_at = %s WHERE push_id = %s AND id %% 10 = 0",
                [now, push.pk],
            )
            cursor.execute(
                "INSERT INTO sms_smsmessage (account_id, phone_number, region, sign_name, "
                "template_code, params, content, content_hash, fee, charged, state, reason, "
                "error_message, retryable, serial_no, request_id, iso_code, session_context, "
                "source_type, source_id, transport, simulated, created_at, receipt_status, "
                "receipt_code, receipt_description) "
                "SELECT %s, '+86137' || lpad(d.id::text, 8, '0'), 'mainland', '基准', '777', "
                "%s, '【基准】审批 42 待处理', '', 1, 1, 'sent', '', '', false, "
                "'s' || d.id, '', 'CN', %s, 'push_delivery', d.id, 'tencent', false, %s, "
                "'', '', '' FROM push_delivery d WHERE d.push_id = %s AND d.id %% 10 = 1",
                [account.pk, '["42"]', f"push:{push.pk}", now, push.pk],
            )
            cursor.execute("ANALYZE push_delivery")
            cursor.execute("ANALYZE sms_smsmessage")
        rollup.refresh()
        rollup.refresh_pushes()
        client = Client()
        client.force_login(user)
        base = _server_ms(client, "/login/")
        dashboard = _server_ms(client, f"/a/{account.pk}/?period=30")
        push_page = _server_ms(client, f"/a/{account.pk}/push/pushes/{push.pk}/")
        records = _server_ms(client, f"/a/{account.pk}/sms/records/")
    finally:
        cleanup(account)
        user.delete()
    worst = max(dashboard, push_page)
    return {
        "figure": "Console: slowest of dashboard / push page, server time",
        "size": size,
        "value": worst,
        "limit": base,
        "unit": "ms",
        "goal": "≤ 300 ms",
        "goal_max": 300,
        "dashboard_ms": dashboard,
        "push_page_ms": push_page,
        "sms_records_ms": records,
        "login_page_ms": base,
    }
