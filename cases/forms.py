"""Browser forms of the cases app. They only parse input; the services validate the rules."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from metrics.clocks import MILESTONES, PHASE_CHOICES
from metrics.targets import SEVERITY_CHOICES

from .models import (
    WEBHOOK_EVENTS,
    AlertSource,
    CaseStatus,
    DismissReason,
    GroupingRule,
    Resolution,
    Tlp,
)
from .services import WORKING_ROLES

User = get_user_model()
LOCAL_INPUT = forms.DateTimeInput(
    attrs={"type": "datetime-local", "step": 1}, format="%Y-%m-%dT%H:%M:%S"
)


class MemberChoiceField(forms.ModelChoiceField):
    """A user who works cases in the current tenant (the queryset is set per request)."""

    def label_from_instance(self, obj):
        return obj.get_username()


def member_queryset(tenant):
    return User.objects.filter(
        memberships__tenant_id=tenant.pk, memberships__role__in=WORKING_ROLES, is_active=True
    ).order_by("username")


class CaseForm(forms.Form):
    title = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"autofocus": True}))
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 8}), help_text="Markdown"
    )
    severity = forms.ChoiceField(choices=SEVERITY_CHOICES, initial="medium")
    tlp = forms.ChoiceField(choices=Tlp.choices, initial=Tlp.AMBER, label="TLP")
    phase = forms.ChoiceField(choices=PHASE_CHOICES)
    assignee = MemberChoiceField(queryset=User.objects.none(), required=False)
    tags = forms.CharField(required=False, help_text="comma-separated", max_length=1500)
    detected_at = forms.DateTimeField(
        required=False,
        widget=LOCAL_INPUT,
        label="Detected at (UTC)",
        help_text="when the intrusion was detected; default now",
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, tenant, creating: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = member_queryset(tenant)
        if not creating:
            del self.fields["detected_at"]

    def clean_tags(self):
        return [tag for tag in (t.strip() for t in self.cleaned_data["tags"].split(",")) if tag]

    def service_values(self) -> dict:
        """The cleaned fields that `case_create` and `case_update` take alike."""
        names = ("title", "description", "severity", "tlp", "phase", "assignee", "tags")
        return {name: self.cleaned_data[name] for name in names}


class CaseFilterForm(forms.Form):
    """Only to name the saved filter."""

    name = forms.CharField(max_length=100)
    query = forms.CharField(max_length=1000, required=False)


class TransitionForm(forms.Form):
    status = forms.ChoiceField(choices=CaseStatus.choices)
    resolution = forms.ChoiceField(choices=[("", "—"), *Resolution.choices], required=False)
    reason = forms.CharField(max_length=1000, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=1000)


class CorrectionForm(forms.Form):
    milestone = forms.ChoiceField(choices=[(m, m) for m in MILESTONES])
    value = forms.DateTimeField(required=False, widget=LOCAL_INPUT, label="Corrected value (UTC)")
    reason = forms.CharField(max_length=1000, min_length=5)


class AssignForm(forms.Form):
    assignee = MemberChoiceField(queryset=User.objects.none(), required=False)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = member_queryset(tenant)


class NoteForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=100_000)


class TaskForm(forms.Form):
    title = forms.CharField(max_length=200)
    due_at = forms.DateTimeField(required=False, widget=LOCAL_INPUT)
    is_remediation = forms.BooleanField(required=False)


class EvidenceForm(forms.Form):
    file = forms.FileField()
    description = forms.CharField(max_length=500, required=False)


class MergeForm(forms.Form):
    into = forms.CharField(max_length=32, label="Merge into case number")
    reason = forms.CharField(max_length=1000, required=False)


class SplitForm(forms.Form):
    alerts = forms.TypedMultipleChoiceField(coerce=int, choices=())
    title = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, alert_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["alerts"].choices = [(pk, pk) for pk in alert_ids]


class DismissForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    reason = forms.ChoiceField(choices=DismissReason.choices)
    note = forms.CharField(max_length=500, required=False)


class GroupingRuleForm(forms.ModelForm):
    class Meta:
        model = GroupingRule
        fields = [
            "name",
            "order",
            "is_enabled",
            "action",
            "min_severity",
            "source",
            "join_on",
            "window_minutes",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "any source"), *AlertSource.choices]
        self.fields["min_severity"].choices = [("", "any severity"), *SEVERITY_CHOICES]


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(max_length=500, widget=forms.URLInput, label="URL")
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in WEBHOOK_EVENTS], widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
