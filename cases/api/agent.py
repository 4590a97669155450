"""The agents' side of response actions, under /api/v1/agent/actions/.

`Authorization: Agent <token>` only (endpoints.auth): the token is the endpoint, so an
agent sees and answers for its own endpoint's actions and nothing else — another
endpoint's action id is a 404, like another tenant's.

    GET  agent/actions/?wait=25&cursor=…   long poll: {"actions": [signed payloads], "cursor",
                                            "poll_after"}
    GET  agent/actions/key/                 the endpoint's signing key (fetch once, keep it)
    POST agent/actions/{id}/ack/            picked up (verified): dispatched
    POST agent/actions/{id}/result/         {"status": "succeeded|failed", "output",
                                            "artifacts": [...], "matches": [...]}
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints.auth import AgentOnly, AgentTokenAuthentication
from tenancy.schema import CONFLICT

from ..actions import services, signing
from ..actions.polling import agent_poll, db_gate, max_wait
from ..models import ACTION_OUTCOMES, ResponseAction
from .serializers import StrictInputMixin


class AgentActionView(APIView):
    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [AgentOnly]

    def own_action(self, pk: int) -> ResponseAction:
        """One of this endpoint's actions, or 404 (whoever else's it is)."""
        return get_object_or_404(
            ResponseAction.objects.select_related("endpoint", "case"),
            pk=pk,
            endpoint=self.request.auth,
        )


class PollAnswerSerializer(serializers.Serializer):
    actions = serializers.ListField(
        child=serializers.DictField(), help_text="signed payloads, oldest first"
    )
    cursor = serializers.CharField(help_text="send it back as ?cursor= on the next poll")
    poll_after = serializers.FloatField(help_text="seconds to wait before polling again")


class KeySerializer(serializers.Serializer):
    endpoint = serializers.IntegerField()
    key = serializers.CharField(help_text="base64url HMAC-SHA256 key")
    key_id = serializers.CharField()
    algorithm = serializers.CharField()


class AckSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class ResultSerializer(StrictInputMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=ACTION_OUTCOMES)
    output = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    artifacts = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        default=list,
        max_length=5,
        help_text='collected files: [{"kind": "file", "name", "path", "sha256", "content_base64"}]',
    )
    matches = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        default=list,
        max_length=1000,
        help_text='YARA matches: [{"path", "ioc", "namespace", "rules": [...]}]',
    )


class AgentActionsPoll(AgentActionView):
    def perform_authentication(self, request):
        """The token look-up goes through the poll's database gate: a web process holding
        thousands of polls never opens thousands of connections at once, and a poll that
        is going to wait gives its connection back at once."""
        try:
            waits = float(request.query_params.get("wait") or 0) > 0
        except ValueError:
            waits = False
        with db_gate(release=waits):
            super().perform_authentication(request)

    @extend_schema(
        summary="Long poll for this endpoint's queued actions (signed payloads)",
        parameters=[
            OpenApiParameter("wait", OpenApiTypes.FLOAT, description="seconds to wait, 0-25"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="the last answer's cursor"),
        ],
        responses=PollAnswerSerializer,
        tags=["agent"],
    )
    def get(self, request):
        try:
            wait = float(request.query_params.get("wait", "0") or 0)
        except ValueError:
            raise ValidationError({"wait": f"seconds, 0-{max_wait():g}"}) from None
        if not 0 <= wait <= 3600:
            raise ValidationError({"wait": f"seconds, 0-{max_wait():g}"})
        answer = agent_poll(
            endpoint=request.auth, wait=wait, cursor=request.query_params.get("cursor") or None
        )
        return Response(
            {"actions": answer.actions, "cursor": answer.cursor, "poll_after": answer.poll_after}
        )


class AgentActionKey(AgentActionView):
    @extend_schema(
        summary="This endpoint's action-signing key (fetch once after enrolment, keep it)",
        responses=KeySerializer,
        tags=["agent"],
    )
    def get(self, request):
        key = services.endpoint_signing_key(request.auth)
        return Response(
            {
                "endpoint": request.auth.pk,
                "key": signing.encode_key(key),
                "key_id": signing.key_id(key),
                "algorithm": "HMAC-SHA256",
            }
        )


class AgentActionAck(AgentActionView):
    @extend_schema(
        summary="Picked up (the payload verified): dispatched",
        request=None,
        responses={200: AckSerializer, **CONFLICT},
        tags=["agent"],
    )
    def post(self, request, pk: int):
        action = services.action_acknowledge(action=self.own_action(pk))
        return Response({"id": action.pk, "status": action.status})


class AgentActionResult(AgentActionView):
    @extend_schema(
        summary="The outcome: status, output, collected files, YARA matches",
        request=ResultSerializer,
        responses={200: AckSerializer, **CONFLICT},
        tags=["agent"],
    )
    def post(self, request, pk: int):
        action = self.own_action(pk)
        data = ResultSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action = services.action_report(action=action, **data.validated_data)
        return Response({"id": action.pk, "status": action.status})
