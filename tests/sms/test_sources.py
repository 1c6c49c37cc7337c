"""``sms`` names its sources generically (``sms.sources``): the apps that send register their
source types; ``sms`` finds a group's messages by session context without knowing the sender."""

import pytest
from django.db import connection

from push.sms_source import PUSH_DELIVERY, messages_of, push_context
from sms import sources
from sms.models import Region, SmsMessage


def test_the_api_is_sms_own_source_and_push_registers_its_deliveries():
    assert sources.choices() == [
        ("api", "API call"),
        ("push_delivery", "Push delivery (supplementary SMS)"),
    ]
    assert SmsMessage._meta.get_field("source_type").choices == sources.choices()
    assert [s.group for s in sources.grouped()] == ["push"]
    assert push_context(42) == "push:42"  # what Tencent echoes back: the stored data


def test_registering_again_is_harmless_but_a_different_source_under_the_same_value_is_refused():
    assert sources.register(PUSH_DELIVERY) is PUSH_DELIVERY
    again = sources.SourceType(str(PUSH_DELIVERY), PUSH_DELIVERY.label, group="push")
    sources.register(again)

    with pytest.raises(ValueError, match="already registered"):
        sources.register(sources.SourceType("push_delivery", "Something else"))
    with pytest.raises(ValueError, match="over 20 characters"):
        sources.SourceType("x" * 21, "Too long for SmsMessage.source_type")


@pytest.fixture
def messages(sms):
    common = dict(
        account=sms.account,
        application=sms.application,
        region=Region.MAINLAND,
        template=sms.template,
        template_code=sms.template.code,
        content="x",
        content_hash="h",
        phone_number="+8613711112222",
    )
    return {
        "of push 7": SmsMessage.objects.create(
            source_type=PUSH_DELIVERY, source_id=70, session_context="push:7", **common
        ),
        "of push 8": SmsMessage.objects.create(
            source_type=PUSH_DELIVERY, source_id=80, session_context="push:8", **common
        ),
        # An API caller may give any SessionContext: it is not a push's SMS.
        "api": SmsMessage.objects.create(session_context="push:7", **common),
    }


def test_the_sms_of_a_push_are_its_sources_messages_in_its_context(messages):
    assert list(messages_of(7)) == [messages["of push 7"]]
    assert set(messages_of(7, 8)) == {messages["of push 7"], messages["of push 8"]}
    assert list(SmsMessage.objects.of_context("push:7")) == [messages["of push 7"]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plans")
def test_a_push_s_sms_are_read_off_the_context_index(messages):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = messages_of(7).filter(source_id=70).explain()

    assert "sms_message_context_idx" in plan
