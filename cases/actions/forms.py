"""Browser forms of response actions. They only parse input: which parameters a type takes
comes from the registry, and the services validate them (errors name `parameters.<x>`)."""

from __future__ import annotations

from django import forms

from .registry import ACTION_TYPE_CHOICES, ACTION_TYPES

# Form field(s) for each parameter a type's serializer declares.
PARAMETER_WIDGETS: dict[str, tuple[str, ...]] = {"rule": ("rule_ioc", "rule_source")}


def parameter_names(action_type: str) -> list[str]:
    spec = ACTION_TYPES[action_type]
    return list(spec.parameters().fields)


def form_fields_for(action_type: str) -> list[str]:
    names: list[str] = []
    for name in parameter_names(action_type):
        names.extend(PARAMETER_WIDGETS.get(name, (name,)))
    return names


def _types_using(field_name: str) -> str:
    """The types a form field belongs to, for `data-types` (actions.js shows only those)."""
    return " ".join(key for key in ACTION_TYPES if field_name in form_fields_for(key))


class ActionForm(forms.Form):
    type = forms.ChoiceField(choices=ACTION_TYPE_CHOICES)
    case = forms.CharField(
        required=False, max_length=32, help_text="case number (CASE-2026-0001) or id"
    )
    endpoint = forms.CharField(required=False, max_length=255, help_text="hostname or id")
    reason = forms.CharField(
        required=False, max_length=1000, widget=forms.TextInput(attrs={"size": 50})
    )
    # parameters (which apply depends on the type)
    sha256 = forms.CharField(required=False, max_length=64, label="SHA-256")
    pid = forms.IntegerField(required=False, min_value=1, label="PID")
    process_name = forms.CharField(required=False, max_length=260, label="Process name")
    path = forms.CharField(required=False, max_length=1024, label="Path")
    name = forms.CharField(required=False, max_length=260, label="Application name")
    product_code = forms.CharField(required=False, max_length=38, label="MSI product code")
    package = forms.CharField(required=False, max_length=260, label="Package")
    kb = forms.CharField(required=False, max_length=12, label="KB")
    username = forms.CharField(required=False, max_length=256, label="Local account")
    account = forms.CharField(required=False, max_length=256, label="Directory account")
    remote_ip = forms.CharField(required=False, max_length=45, label="Remote IP")
    remote_port = forms.IntegerField(required=False, min_value=1, max_value=65535, label="Port")
    rule_ioc = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="YARA IOC"
    )
    rule_source = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 5}), label="…or YARA source"
    )
    paths = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Paths (one a line)"
    )
    comment = forms.CharField(required=False, max_length=500, label="Comment")

    def __init__(self, *args, yara_iocs=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule_ioc"].choices = [("", "—")] + [
            (ioc.pk, str(ioc)[:80]) for ioc in yara_iocs
        ]

    def parameter_widgets(self) -> list[tuple]:
        """(bound field, the types it belongs to) for the template."""
        return [(self[name], _types_using(name)) for name in self.parameter_fields()]

    @classmethod
    def parameter_fields(cls) -> list[str]:
        names: list[str] = []
        for key in ACTION_TYPES:
            for name in form_fields_for(key):
                if name not in names:
                    names.append(name)
        return names

    def parameters(self) -> dict:
        """The chosen type's parameters from the cleaned data (empty ones left out)."""
        data = self.cleaned_data
        params: dict = {}
        for name in parameter_names(data["type"]):
            if name == "rule":
                value = data.get("rule_ioc") or (data.get("rule_source") or "").strip()
                if value:
                    params["rule"] = value
            elif name == "paths":
                lines = [line.strip() for line in (data.get("paths") or "").splitlines()]
                params["paths"] = [line for line in lines if line]
            elif data.get(name) not in (None, ""):
                params[name] = data[name]
        return params


class BulkActionForm(forms.Form):
    type = forms.ChoiceField(
        choices=[(k, s.label) for k, s in ACTION_TYPES.items() if s.runs_on_agent]
    )
    case = forms.CharField(required=False, max_length=32)
    reason = forms.CharField(required=False, max_length=1000)
    sha256 = forms.CharField(required=False, max_length=64)
    sweep = forms.IntegerField(required=False, min_value=1)
    ioc = forms.IntegerField(required=False, min_value=1)
    ids = forms.CharField(required=False, help_text="endpoint ids, comma-separated")

    def endpoint_ids(self) -> list[int]:
        raw = (self.cleaned_data.get("ids") or "").replace("\n", ",")
        return [int(part) for part in raw.split(",") if part.strip().isdigit()]


class OutcomeForm(forms.Form):
    status = forms.ChoiceField(choices=[("succeeded", "Succeeded"), ("failed", "Failed")])
    output = forms.CharField(required=False, max_length=10_000)


class ApprovalSettingsForm(forms.Form):
    approval_required_types = forms.MultipleChoiceField(
        choices=ACTION_TYPE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
