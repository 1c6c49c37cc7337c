"""Pagination of lists that may hold millions of rows (the devices of an account): a capped
count, numbered pages, a page asked for that is not one, and a whitelisted sort order."""

from django.core.paginator import Paginator
from django.http import QueryDict
from django.utils.functional import cached_property
from django.utils.translation import gettext as _


class CappedPaginator(Paginator):
    """Counts no further than ``cap`` rows: one COUNT over a subquery that stops there, so a
    list of a million devices costs a walk over its first ``cap`` rows, not all of them. Past
    the cap the list says "more than" and offers the pages up to it (filters narrow it)."""

    def __init__(self, object_list, per_page, *, cap: int = 10_000):
        super().__init__(object_list, per_page)
        self.cap = cap

    @cached_property
    def _counted(self) -> int:
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @property
    def capped(self) -> bool:
        return self._counted > self.cap


def page_of(paginator: Paginator, raw):
    """The page ``?page=`` asks for, and a message for a person when it is not one: not a
    number (the first page is shown) or past the end (the last is). Never an exception, so a
    hand-edited address gets a page and a sentence, not an error page."""
    if raw in (None, ""):
        return paginator.page(1), ""
    try:
        number = int(raw)
    except (TypeError, ValueError):
        return paginator.page(1), _("Page: %(page)s is not a page number.") % {"page": raw[:20]}
    if number < 1:
        return paginator.page(1), _("Page: %(page)s is not a page number.") % {"page": number}
    if number > paginator.num_pages:
        return paginator.page(paginator.num_pages), _(
            "Page: there is no page %(page)s; this is the last one, %(last)s."
        ) % {"page": number, "last": paginator.num_pages}
    return paginator.page(number), ""


def page_numbers(page, around: int = 2) -> list[int | None]:
    """The page numbers to offer: the first, the last, and ``around`` on either side of the
    current one; ``None`` where two or more are left out (shown as an ellipsis)."""
    last = page.paginator.num_pages
    wanted = {1, last, *range(page.number - around, page.number + around + 1)}
    numbers, previous = [], 0
    for n in sorted(n for n in wanted if 1 <= n <= last):
        if n == previous + 2:  # an ellipsis would take the place of one number: show it
            numbers.append(previous + 1)
        elif n > previous + 2:
            numbers.append(None)
        numbers.append(n)
        previous = n
    return numbers


class Sorting:
    """A list's order from its ``?sort=`` parameter: one key of a whitelist, ``-key`` for the
    other direction. Each key names the columns it orders by; ``id`` in the same direction ends
    every order, so rows that tie keep one order from page to page."""

    def __init__(self, keys: dict[str, tuple[str, ...]], default: str):
        self.keys, self.default = keys, default

    def choices(self, labels: dict) -> list[tuple[str, str]]:
        """(value, label) for a form's select: each key both ways."""
        out = []
        for key in self.keys:
            out.append((key, _("%(column)s, ascending") % {"column": labels[key]}))
            out.append((f"-{key}", _("%(column)s, descending") % {"column": labels[key]}))
        return out

    def parse(self, raw) -> tuple[str, bool]:
        """(key, descending) of a valid ``sort`` value, else of the default."""
        value = raw if self.valid(raw) else self.default
        return value.lstrip("-"), value.startswith("-")

    def valid(self, raw) -> bool:
        return bool(raw) and raw.lstrip("-") in self.keys and raw.count("-") <= 1

    def order_by(self, key: str, descending: bool) -> list[str]:
        sign = "-" if descending else ""
        return [f"{sign}{field}" for field in self.keys[key]] + [f"{sign}id"]

    def links(self, query: QueryDict, key: str, descending: bool) -> dict[str, dict]:
        """Per key: the query string that sorts by it (the current key reversed, another one
        ascending), keeping every other parameter but the page; and ``aria_sort`` on the
        current key ("ascending" / "descending")."""
        out = {}
        for k in self.keys:
            q = query.copy()
            q.pop("page", None)
            q["sort"] = f"-{k}" if k == key and not descending else k
            out[k] = {
                "query": q.urlencode(),
                "aria_sort": ("descending" if descending else "ascending") if k == key else "",
            }
        return out
