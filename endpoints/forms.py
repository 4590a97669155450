from __future__ import annotations

from django import forms

from .models import OS_FAMILIES, STACK_CATEGORIES
from .observation_fields import FIELDS, KINDS

_TRISTATE = [("", "any"), ("1", "yes"), ("0", "no")]


def tristate(value: str | None) -> bool | None:
    return {"1": True, "0": False}.get(value or "")


class EndpointFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=255, label="Hostname or IP")
    os = forms.ChoiceField(required=False, choices=[("", "any"), *OS_FAMILIES], label="OS")
    group = forms.CharField(required=False, max_length=200)
    tag = forms.CharField(required=False, max_length=100)
    online = forms.ChoiceField(required=False, choices=_TRISTATE)
    isolated = forms.ChoiceField(required=False, choices=_TRISTATE)

    def selector_kwargs(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "q": data.get("q", ""),
            "os_family": data.get("os") or None,
            "group": data.get("group") or None,
            "tag": data.get("tag") or None,
            "online": tristate(data.get("online")),
            "isolated": tristate(data.get("isolated")),
        }


class TimelineFilterForm(forms.Form):
    kind = forms.MultipleChoiceField(
        required=False, choices=[(k, k.replace("_", " ")) for k in KINDS]
    )
    since = forms.DateTimeField(required=False, help_text="UTC")
    until = forms.DateTimeField(required=False, help_text="UTC")
    text = forms.CharField(required=False, max_length=200, label="Contains")


class StackFilterForm(forms.Form):
    category = forms.ChoiceField(choices=STACK_CATEGORIES, required=False)
    os = forms.ChoiceField(required=False, choices=[("", "any"), *OS_FAMILIES], label="OS")
    group = forms.CharField(required=False, max_length=200)
    tag = forms.CharField(required=False, max_length=100)
    max_endpoints = forms.IntegerField(required=False, min_value=1, label="On at most")
    name = forms.CharField(required=False, max_length=200, label="Name or path contains")

    def selector_kwargs(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "category": data.get("category") or "autorun",
            "os_family": data.get("os") or None,
            "groups": [data["group"]] if data.get("group") else [],
            "tags": [data["tag"]] if data.get("tag") else [],
            "max_endpoints": data.get("max_endpoints"),
            "name": data.get("name") or "",
        }


class RuleUploadForm(forms.Form):
    yaml = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        label="Sigma rule (YAML)",
        required=False,
    )
    file = forms.FileField(required=False, label="or a .yml file")

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None:
            if upload.size > 256 * 1024:
                raise forms.ValidationError("a rule file is at most 256 KiB")
            try:
                cleaned["yaml"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("the file is not UTF-8 text") from None
        if not (cleaned.get("yaml") or "").strip():
            raise forms.ValidationError("paste a rule or choose a file")
        return cleaned


class RuleExceptionForm(forms.Form):
    field = forms.ChoiceField(choices=[(f.name, f.name) for f in FIELDS if f.type != "ts"])
    value = forms.CharField(max_length=1024, help_text=r"wildcards * and ?, e.g. c:\tools\*")
    reason = forms.CharField(max_length=500, required=False)
