from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from tenancy.models import ApiToken, AuditEvent, Membership

User = get_user_model()


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "seq",
            "occurred_at",
            "actor_kind",
            "actor_id",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
            "request_id",
            "ip",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class ApiTokenSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "user",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "is_active",
        ]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    name = serializers.CharField(max_length=100)
    days = serializers.IntegerField(min_value=0, max_value=3650, required=False)

    def validate_username(self, value):
        membership = Membership.objects.select_related("user").filter(user__username=value).first()
        if membership is None:
            raise serializers.ValidationError("no member of this tenant has that username")
        return membership.user


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="shown once; store it now")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    tenant = serializers.CharField()
    role = serializers.CharField()
