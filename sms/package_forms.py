"""The form an account's owner records a purchased SMS package with (``sms.package_views``).

Dates are days in the account's time zone: a package is valid from the start of its first day
to the end of its last day. The last day is given, or follows from a validity in months.
"""

import calendar
import uuid
from datetime import date, datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lib.dates import LATEST, RANGE_TEXT, in_range, local_day_start

from .models import Region

# A date input takes and gives ISO dates whatever the language (a localized value is dropped).
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# A validity as Tencent Cloud sells packages: mostly 12 months, up to a few years.
DEFAULT_MONTHS, MAX_MONTHS = 12, 60
MAX_QUANTITY = 100_000_000


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day where it has no such day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class PackageForm(forms.Form):
    region = forms.ChoiceField(label=_("Region"), choices=Region.choices, initial=Region.MAINLAND)
    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=1,
        max_value=MAX_QUANTITY,
        help_text=_("SMS parts (billed segments) bought: a long SMS takes several."),
    )
    valid_from = forms.DateField(label=_("Valid from"), widget=DATE)
    months = forms.IntegerField(
        label=_("Validity in months"),
        min_value=1,
        max_value=MAX_MONTHS,
        initial=DEFAULT_MONTHS,
        required=False,
        help_text=_("Counted from the first day; not used when a last day is given."),
    )
    valid_until = forms.DateField(
        label=_("Last day (optional)"),
        required=False,
        widget=DATE,
        help_text=_("The package is valid to the end of this day."),
    )
    note = forms.CharField(
        label=_("Note or order reference"), max_length=200, required=False, strip=True
    )
    # A one-time key per form shown: posting the same form twice records one package.
    request_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, tz, now: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz, self.now = tz, now or timezone.now()
        self.fields["valid_from"].initial = timezone.localtime(self.now, tz).date()
        self.fields["request_key"].initial = uuid.uuid4()
        self.fields["request_key"].error_messages = {
            "required": _("This form has no key; reload the page and enter the package again."),
            "invalid": _("This form has no key; reload the page and enter the package again."),
        }

    def _day(self, name: str) -> date | None:
        day = self.cleaned_data.get(name)
        # A day must leave room for its end (the next midnight) and the zone's offset.
        if day is not None and not (in_range(day) and day < LATEST):
            self.add_error(name, _("Give a date %(range)s.") % {"range": RANGE_TEXT})
            return None
        return day

    def clean(self):
        cleaned = super().clean()
        first, last = self._day("valid_from"), self._day("valid_until")
        months = cleaned.get("months")
        if first is None or "valid_until" in self.errors or "months" in self.errors:
            return cleaned
        given = last is not None
        if last is None and months is None:
            self.add_error("months", _("Give a validity in months, or a last day."))
            return cleaned
        if last is None:
            last = add_months(first, months) - timedelta(days=1)
            if not in_range(last) or last >= LATEST:
                self.add_error(
                    "months",
                    _("Give a validity that ends before %(date)s.") % {"date": LATEST.isoformat()},
                )
                return cleaned
        if last < first:
            self.add_error("valid_until", _("The last day cannot be before the first."))
            return cleaned
        start = local_day_start(first, self.tz)
        end = local_day_start(last + timedelta(days=1), self.tz)
        if end <= self.now:
            self.add_error(
                "valid_until" if given else "months",
                _("This package would have ended already; check its days."),
            )
            return cleaned
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def package_fields(self) -> dict:
        """What ``quota.record_package`` takes."""
        data = self.cleaned_data
        return {
            "region": data["region"],
            "quantity": data["quantity"],
            "valid_from": data["start"],
            "valid_until": data["end"],
            "note": data["note"],
            "request_key": data["request_key"],
        }
