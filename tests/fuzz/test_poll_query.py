"""The long-poll server reads an everyday poll's query without a serializer
(``MessagesQuery.everyday``): for any query string, it either leaves the query to the serializer
or gives exactly what the serializer's ``validated_data`` would be."""

from urllib.parse import urlencode

from django.http import QueryDict
from hypothesis import given, settings
from hypothesis import strategies as st

from push.sdk.serializers import MessagesQuery

# Values near the edges of what is taken: spaces, signs, decimals, long and empty strings,
# characters a CharField refuses, numbers around the bounds.
edgy_numbers = st.one_of(
    st.integers(min_value=-5, max_value=40).map(str),
    st.sampled_from(
        ["", " 5", "5 ", "+5", "05", "5.0", "5.5", "1e3", "٣", str(2**63 - 1), str(2**63), "9" * 20]
    ),
    st.text(max_size=6),
)
edgy_tokens = st.one_of(
    st.text(alphabet="abcXYZ019-_.~ \t\x00", min_size=0, max_size=40),
    st.text(max_size=40),
    st.sampled_from(["a" * 36, "a" * 37, " a", "a ", "\u00e9t\u00e9", "tok\x00en"]),
)
everyday_tokens = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)
numbers = edgy_numbers | st.integers(28, 32).map(str) | st.integers(0, 2**64).map(str)
fields = st.fixed_dictionaries(
    {},
    optional={
        "token": everyday_tokens | edgy_tokens,
        "after": numbers,
        "wait": numbers,
    },
)
extras = st.lists(
    st.tuples(st.sampled_from(["token", "after", "wait", "other"]), numbers | edgy_tokens),
    max_size=3,
)
pairs = st.tuples(fields, extras).map(lambda both: [*both[0].items(), *both[1]])


@settings(max_examples=600, deadline=None)
@given(pairs)
def test_an_everyday_query_is_read_as_the_serializer_reads_it(items):
    query = QueryDict(urlencode(items))
    fast = MessagesQuery.everyday(query)
    if fast is None:
        return
    serializer = MessagesQuery(data=query)
    assert serializer.is_valid(), serializer.errors
    assert fast == dict(serializer.validated_data)


def test_the_everyday_form_is_taken_without_a_serializer():
    assert MessagesQuery.everyday(QueryDict("token=tok-a&after=12&wait=25")) == {
        "token": "tok-a",
        "after": 12,
        "wait": 25,
    }
    assert MessagesQuery.everyday(QueryDict("token=tok-a")) == {
        "token": "tok-a",
        "after": 0,
        "wait": 0,
    }
    for spoilt in ("token=tok-a&wait=31", "token=%20tok", "after=1", "token=tok-a&after=-1"):
        assert MessagesQuery.everyday(QueryDict(spoilt)) is None


raw_parts = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["token", "after", "wait", "x", ""]),
            st.just("="),
            st.text(alphabet="ab=;%+-_.019 \u00e9", max_size=6),
        ).map("".join),
        st.text(alphabet="token=;%+&x", max_size=6),
    ),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(raw_parts.map("&".join))
def test_a_query_string_is_split_as_django_splits_it(query_string):
    from push.sdk.longpoll import Headers

    scope = {"query_string": query_string.encode(), "headers": [], "client": ("127.0.0.1", 1)}
    django = QueryDict(query_string)
    ours = Headers(scope).GET
    for name in ("token", "after", "wait", "x", ""):
        assert ours.get(name) == django.get(name), name
