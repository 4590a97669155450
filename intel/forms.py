"""Browser forms of the intel pages; they validate input shape, the services do the rest."""

from __future__ import annotations

from django import forms

from endpoints.models import OS_FAMILIES
from intel.models import IOC_TYPE_CHOICES, SELECTIONS, TLP_CHOICES, Source
from metrics.clocks import PHASE_CHOICES
from metrics.targets import SEVERITY_CHOICES

BLANK = [("", "—")]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


class IOCFilterForm(forms.Form):
    search = forms.CharField(required=False, max_length=200)
    type = forms.ChoiceField(required=False, choices=BLANK + IOC_TYPE_CHOICES)
    source = forms.ModelChoiceField(required=False, queryset=Source.objects.all())
    tag = forms.CharField(required=False, max_length=100)
    state = forms.ChoiceField(
        required=False,
        choices=[
            ("", "any"),
            ("active", "active"),
            ("expired", "expired / revoked"),
            ("suppressed", "suppressed"),
            ("seen", "seen in telemetry"),
        ],
    )


class IOCForm(forms.Form):
    type = forms.ChoiceField(choices=IOC_TYPE_CHOICES)
    value = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), strip=False)
    confidence = forms.IntegerField(required=False, min_value=0, max_value=100)
    severity = forms.ChoiceField(choices=SEVERITY_CHOICES, initial="medium")
    tlp = forms.ChoiceField(choices=TLP_CHOICES, initial="amber")
    phase = forms.ChoiceField(required=False, choices=BLANK + list(PHASE_CHOICES))
    attack_techniques = forms.CharField(required=False, help_text="T1059.001, T1105")
    tags = forms.CharField(required=False, help_text="comma-separated")
    valid_until = forms.DateTimeField(required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    domain_exact = forms.BooleanField(required=False, label="This domain only (not subdomains)")
    force = forms.BooleanField(required=False, label="Match even if it is on a warning list")

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data["attack_techniques"] = _lines(data["attack_techniques"])
        data["tags"] = _lines(data["tags"])
        data["severity"] = data["severity"] or None
        return data


class IOCEditForm(forms.Form):
    confidence = forms.IntegerField(required=False, min_value=0, max_value=100)
    severity = forms.ChoiceField(choices=SEVERITY_CHOICES)
    tlp = forms.ChoiceField(choices=TLP_CHOICES)
    phase = forms.ChoiceField(required=False, choices=BLANK + list(PHASE_CHOICES))
    tags = forms.CharField(required=False)
    valid_until = forms.DateTimeField(required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(
        required=False,
        choices=[
            ("", "detect from the file"),
            ("stix", "STIX 2.1 bundle"),
            ("csv", "CSV"),
            ("misp", "MISP event JSON"),
            ("text", "Plain list, one value a line"),
        ],
    )
    source = forms.CharField(required=False, max_length=100, help_text="a source name")
    value_column = forms.CharField(required=False, initial="value", label="CSV: value column")
    type_column = forms.CharField(required=False, label="CSV: type column")
    confidence_column = forms.CharField(required=False, label="CSV: confidence column")
    tags_column = forms.CharField(required=False, label="CSV: tags column")
    description_column = forms.CharField(required=False, label="CSV: description column")

    def mapping(self) -> dict:
        data = self.cleaned_data
        mapping = {"value": data.get("value_column") or "value"}
        for name in ("type", "confidence", "tags", "description"):
            if data.get(f"{name}_column"):
                mapping[name] = data[f"{name}_column"]
        return mapping


class SourceForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Source.KIND_CHOICES[:3])
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(required=False, initial=True)
    default_confidence = forms.IntegerField(required=False, min_value=0, max_value=100)
    default_severity = forms.ChoiceField(choices=SEVERITY_CHOICES, initial="medium")
    default_tlp = forms.ChoiceField(choices=TLP_CHOICES, initial="amber")
    reputation_feed = forms.BooleanField(required=False, initial=True)
    url = forms.URLField(required=False, label="TAXII API root URL", assume_scheme="https")
    collection_id = forms.CharField(required=False, max_length=100)
    username = forms.CharField(required=False, max_length=150)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        max_length=300,
        help_text="left empty: unchanged",
    )
    poll_interval_minutes = forms.IntegerField(min_value=1, max_value=7 * 24 * 60, initial=60)
    page_size = forms.IntegerField(min_value=1, max_value=10_000, initial=500)
    timeout_seconds = forms.IntegerField(min_value=1, max_value=300, initial=30)

    def service_kwargs(self, *, editing: bool) -> dict:
        data = dict(self.cleaned_data)
        if editing and not data.get("password"):
            data.pop("password", None)
        return data


class SweepForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    selection = forms.ChoiceField(choices=SELECTIONS, initial="all", widget=forms.RadioSelect)
    source = forms.ModelChoiceField(required=False, queryset=Source.objects.all())
    tag = forms.CharField(required=False, max_length=100)
    iocs = forms.CharField(required=False, label="IOC ids", help_text="comma-separated")
    adhoc_values = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="one value a line; prefix with a type when it cannot be guessed (cmdline:…)",
    )
    os_family = forms.ChoiceField(required=False, choices=[("", "any OS"), *OS_FAMILIES])
    groups = forms.CharField(required=False, help_text="user groups, comma-separated")
    tags = forms.CharField(required=False, help_text="endpoint tags, comma-separated")
    privileged = forms.NullBooleanField(
        required=False,
        widget=forms.Select(
            choices=[
                ("unknown", "any endpoint"),
                ("true", "only with privileged admin logons"),
                ("false", "only without"),
            ]
        ),
    )
    window_start = forms.DateTimeField(required=False)
    window_end = forms.DateTimeField(required=False)

    def clean_iocs(self):
        try:
            return [int(x) for x in _lines(self.cleaned_data["iocs"])]
        except ValueError:
            raise forms.ValidationError("IOC ids are numbers") from None

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "selection": data["selection"],
            "source": data["source"],
            "tag": data["tag"],
            "ioc_ids": data["iocs"],
            "adhoc_values": (data["adhoc_values"] or "").splitlines(),
            "os_family": data["os_family"],
            "groups": _lines(data["groups"]),
            "tags": _lines(data["tags"]),
            "privileged": data["privileged"],
            "window_start": data["window_start"],
            "window_end": data["window_end"],
        }


class AllowlistForm(forms.Form):
    type = forms.ChoiceField(choices=[c for c in IOC_TYPE_CHOICES if c[0] != "yara"])
    value = forms.CharField(max_length=1024)
    reason = forms.CharField(max_length=300)


class LookupForm(forms.Form):
    hash = forms.CharField(max_length=64, label="MD5, SHA-1 or SHA-256")


class SearchForm(forms.Form):
    q = forms.CharField(min_length=3, max_length=1000, label="Hash, IP, domain, name, path…")
