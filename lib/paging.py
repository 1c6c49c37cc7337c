"""Pagination of lists that may hold millions of rows (the devices of an account): a capped
count, numbered pages, a page asked for that is not one, and a whitelisted sort order."""

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Value
from django.http import QueryDict
from django.utils.functional import cached_property
from django.utils.translation import gettext as _


class CappedPaginator(Paginator):
    """Counts no further than ``cap`` rows: one COUNT over a subquery that stops there, so a
    list of a million devices costs a walk over its first ``cap`` rows, not all of them. Past
    the cap the list says "more than" and offers the pages up to it (filters narrow it)."""

    def __init__(self, object_list, per_page, *, cap: int = 10_000, rows=None):
        super().__init__(object_list, per_page)
        self.cap = cap
        # ``rows(bottom, top)``: a page's rows when slicing ``object_list`` is not how to read
        # them (``merged_rows``); ``object_list`` is still what is counted.
        self.rows = rows

    def page(self, number):
        if self.rows is None:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        return self._get_page(self.rows(bottom, top), number, self)

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


def merged_rows(qs, field: str, parts: dict, order: list[str], bottom: int, top: int) -> list:
    """Rows ``bottom`` to ``top`` of ``qs`` in ``order``, where ``qs`` keeps to ``field`` IN
    ``parts``: each part's first ``top`` rows are read in order on its own (an index that
    starts with ``field`` gives them without sorting), and the outcome merged, a few hundred
    rows at most. PostgreSQL cannot walk one index in such an order across several values of
    its first column (no skip scan before 18): it would sort every matching row.

    ``parts`` maps each value to the columns constant within it (``{"application__name":
    "Shop"}``): an order on one of those is an order of the parts, each part then read on its
    own order's other columns."""
    names = [term.lstrip("-") for term in order]
    if not parts or top <= bottom:
        return []

    def branch(value, constants: dict):
        given = {f"sort_{i}": Value(constants[n]) for i, n in enumerate(names) if n in constants}
        ordered = qs.filter(**{field: value}).annotate(**given)
        ordered = ordered.order_by(
            *(term for term, name in zip(order, names, strict=True) if name not in constants)
        )
        columns = [f"sort_{i}" if n in constants else n for i, n in enumerate(names)]
        return ordered.values_list(*columns), columns

    if len(parts) == 1:
        [(value, constants)] = parts.items()
        rows = branch(value, constants)[0][bottom:top]
    elif not connections[qs.db].features.supports_slicing_ordering_in_compound:  # SQLite
        rows = qs.order_by(*order).values_list(*names)[bottom:top]
    else:
        branches = [branch(value, constants) for value, constants in parts.items()]
        columns = branches[0][1]
        outer = [
            ("-" if term.startswith("-") else "") + column
            for term, column in zip(order, columns, strict=True)
        ]
        first, *rest = (values[:top] for values, _columns in branches)
        rows = first.union(*rest, all=True).order_by(*outer)[bottom:top]
    ids = [row[names.index("id")] for row in rows]
    found = {row.pk: row for row in qs.filter(pk__in=ids)}
    return [found[pk] for pk in ids if pk in found]
