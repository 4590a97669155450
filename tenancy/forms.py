from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .middleware import client_ip
from .models import Membership
from .throttling import login_failed, login_succeeded


class ThrottledAuthenticationForm(AuthenticationForm):
    """Counts failures per account and per IP; the view refuses once over the limit."""

    def clean(self):
        username = self.data.get("username", "")
        ip = client_ip(self.request) if self.request else None
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_failed(username, ip)
            raise
        login_succeeded(username, ip)
        return cleaned


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=64)
    object_type = forms.CharField(required=False, max_length=64)
    object_id = forms.CharField(required=False, max_length=64)
    actor = forms.CharField(required=False, max_length=200)
    since = forms.DateTimeField(required=False)
    until = forms.DateTimeField(required=False)

    def apply(self, queryset):
        data = self.cleaned_data
        if data["action"]:
            queryset = queryset.filter(action__startswith=data["action"])
        if data["object_type"]:
            queryset = queryset.filter(object_type=data["object_type"])
        if data["object_id"]:
            queryset = queryset.filter(object_id=data["object_id"])
        if data["actor"]:
            queryset = queryset.filter(actor_label__icontains=data["actor"])
        if data["since"]:
            queryset = queryset.filter(occurred_at__gte=data["since"])
        if data["until"]:
            queryset = queryset.filter(occurred_at__lt=data["until"])
        return queryset


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.user.get_username()} ({obj.role})"


class ApiTokenForm(forms.Form):
    member = MemberChoiceField(queryset=Membership.objects.select_related("user"))
    name = forms.CharField(max_length=100)
    days = forms.IntegerField(
        min_value=0, max_value=3650, initial=90, help_text="0 = never expires"
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("member"):
            cleaned["user"] = cleaned["member"].user
        return cleaned
