"""Forms of the metrics app. `MetricsQueryForm` parses the period and the filters for the
browser and the API alike (one parser, one set of error messages); the others back the
pages that change something (targets, regulatory flags and notifications, reports)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from metrics.aggregation import Filters
from metrics.clocks import CLOCKS, PHASE_CHOICES
from metrics.models import SLA_CLOCK_CHOICES, RegulatoryFlag, Report
from metrics.periods import GRANULARITIES, PRESETS, Period, parse_period
from metrics.regulatory import REGIMES
from metrics.services import FLAG_FIELDS
from metrics.targets import SEVERITY_CHOICES
from tenancy.models import Membership

User = get_user_model()


def _source_choices() -> list[tuple[str, str]]:
    from cases.models import AlertSource

    return list(AlertSource.choices)


class MetricsQueryForm(forms.Form):
    """`period` (or `from` and `to`), `granularity`, and the filters: `phase`, `severity`
    (repeatable), `assignee` (a member's user id), `tag` (name), `source` (alert source),
    plus `clock` (which clock the charts show)."""

    period = forms.CharField(required=False, max_length=40)
    granularity = forms.ChoiceField(
        required=False, choices=[("", "Auto")] + [(g, g.capitalize()) for g in GRANULARITIES]
    )
    phase = forms.MultipleChoiceField(required=False, choices=PHASE_CHOICES)
    severity = forms.MultipleChoiceField(required=False, choices=SEVERITY_CHOICES)
    assignee = forms.ModelChoiceField(required=False, queryset=User.objects.none())
    tag = forms.CharField(required=False, max_length=50)
    source = forms.ChoiceField(required=False)
    clock = forms.ChoiceField(required=False, choices=[(c.key, c.label) for c in CLOCKS])

    def __init__(self, data=None, *, zone: str = "UTC", **kwargs):
        data = data.copy() if data is not None else None
        if data is not None:
            # `from`/`to` are Python keywords: read them from the raw data.
            self.range = (data.get("from", ""), data.get("to", ""))
        else:
            self.range = ("", "")
        super().__init__(data, **kwargs)
        self.zone = zone
        self.extra_errors: dict[str, str] = {}
        self.fields["assignee"].queryset = User.objects.filter(
            pk__in=Membership.objects.values("user")
        ).order_by("username")
        self.fields["source"].choices = [("", "Any source"), *_source_choices()]

    def clean(self):
        cleaned = super().clean()
        start, end = self.range
        try:
            cleaned["resolved_period"] = parse_period(
                {
                    "period": cleaned.get("period") or "",
                    "from": start,
                    "to": end,
                    "granularity": cleaned.get("granularity") or "",
                },
                self.zone,
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field in self.fields:
                    self.add_error(field, messages)
                else:  # from / to are not form fields
                    self.extra_errors[field] = " ".join(messages)
                    self.add_error(None, f"{field}: {' '.join(messages)}")
        return cleaned

    def error_fields(self) -> dict[str, str]:
        """Errors by parameter name, for the API's error body."""
        fields = {k: " ".join(v) for k, v in self.errors.items() if k != "__all__"}
        return {**fields, **self.extra_errors}

    def resolved(self) -> tuple[Period, Filters]:
        data = self.cleaned_data
        assignee = data.get("assignee")
        return data["resolved_period"], Filters(
            phases=tuple(data.get("phase") or ()),
            severities=tuple(data.get("severity") or ()),
            assignee_id=assignee.pk if assignee else None,
            tag=(data.get("tag") or "").strip().lower(),
            source=data.get("source") or "",
        )

    def chart_clock(self) -> str:
        return (self.cleaned_data.get("clock") if self.is_valid() else "") or "remediate"

    @staticmethod
    def presets():
        return PRESETS


class SlaTargetForm(forms.Form):
    phase = forms.ChoiceField(choices=PHASE_CHOICES)
    severity = forms.ChoiceField(choices=SEVERITY_CHOICES)
    clock = forms.ChoiceField(choices=SLA_CLOCK_CHOICES)
    minutes = forms.IntegerField(
        required=False, min_value=0, max_value=366 * 24 * 60, help_text="empty: no target"
    )
    effective_from = forms.DateTimeField(
        required=False, help_text="UTC, empty: now", widget=forms.DateTimeInput()
    )
    reason = forms.CharField(required=False, max_length=500)

    def target(self) -> timedelta | None:
        minutes = self.cleaned_data.get("minutes")
        return None if minutes is None else timedelta(minutes=minutes)


class RegulatoryFlagForm(forms.ModelForm):
    class Meta:
        model = RegulatoryFlag
        fields = ["regime", *FLAG_FIELDS]
        widgets = {
            "facts": forms.Textarea(attrs={"rows": 3}),
            "effects": forms.Textarea(attrs={"rows": 3}),
            "remedial_action": forms.Textarea(attrs={"rows": 3}),
            "not_notified_reason": forms.Textarea(attrs={"rows": 2}),
        }

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("regime", None)
        return data

    def _post_clean(self):  # the service validates and saves; skip the model's own checks
        pass


class NotificationForm(forms.Form):
    flag = forms.ModelChoiceField(queryset=RegulatoryFlag.objects.all())
    deadline = forms.CharField(max_length=32)
    sent_at = forms.DateTimeField(help_text="UTC")
    recipient = forms.CharField(max_length=200)
    reference = forms.CharField(max_length=200, required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        if case is not None:
            self.fields["flag"].queryset = RegulatoryFlag.objects.filter(case=case)


class ReportForm(forms.Form):
    paper = forms.ChoiceField(choices=Report.Paper.choices, initial=Report.Paper.A4)


REGIME_CHOICES = [(key, regime.label) for key, regime in REGIMES.items()]
