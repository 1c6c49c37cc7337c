"""Pagination of lists that may hold millions of rows (the devices of an account)."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property


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
