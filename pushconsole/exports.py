"""Links of the console pages."""


def export_url(path: str, query: str) -> str:
    """The CSV export of a page: its ``path`` with the current filters (``query``, urlencoded,
    without the page number) and ``export=csv``."""
    return path + "?" + "&".join(filter(None, [query, "export=csv"]))
