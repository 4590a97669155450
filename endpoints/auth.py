"""Agent authentication: `Authorization: Agent <token>` (and `Enrolment <secret>` to enrol).

The token decides the tenant and the endpoint: the tenant context is entered here, the
actor is the agent (kind `agent`), its role `roles.AGENT`. Agent views accept only that
role (`AgentOnly`); every other API view authenticates with `Token` only and its role
checks never include `agent`, so an agent credential opens nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions, permissions

from tenancy import roles
from tenancy.context import Actor, set_actor, set_tenant
from tenancy.permissions import request_role

from .models import Endpoint
from .services import agent_authenticate, enrolment_authenticate


@dataclass(frozen=True)
class AgentPrincipal:
    """`request.user` for agent requests: not a person, never staff."""

    endpoint: Endpoint | None
    label: str
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    def get_username(self) -> str:
        return self.label


def _credential(request, keyword: str) -> str | None:
    header = authentication.get_authorization_header(request).split()
    if not header or header[0].lower() != keyword.lower().encode():
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed(f"Authorization header must be '{keyword} <value>'.")
    try:
        return header[1].decode()
    except UnicodeDecodeError as exc:
        raise exceptions.AuthenticationFailed("Credential contains invalid characters.") from exc


def _enter(request, tenant, actor: Actor) -> None:
    set_tenant(tenant)
    set_actor(actor, roles.AGENT)
    request._request.tenant = tenant
    request._request.role = roles.AGENT


class AgentTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Agent"

    def authenticate(self, request):
        token = _credential(request, self.keyword)
        if token is None:
            return None
        endpoint = agent_authenticate(token)
        if endpoint is None:
            raise exceptions.AuthenticationFailed("Unknown or replaced agent token.")
        actor = Actor(kind="agent", id=str(endpoint.pk), label=endpoint.hostname)
        _enter(request, endpoint.tenant, actor)
        request._request.endpoint = endpoint
        return AgentPrincipal(endpoint, endpoint.hostname), endpoint

    def authenticate_header(self, request):
        return self.keyword


class EnrolmentSecretAuthentication(authentication.BaseAuthentication):
    keyword = "Enrolment"

    def authenticate(self, request):
        secret = _credential(request, self.keyword)
        if secret is None:
            return None
        tenant = enrolment_authenticate(secret)
        if tenant is None:
            raise exceptions.AuthenticationFailed("Unknown or rotated enrolment secret.")
        _enter(request, tenant, Actor(kind="agent", id="enrolment", label="agent enrolment"))
        return AgentPrincipal(None, "agent enrolment"), tenant

    def authenticate_header(self, request):
        return self.keyword


class AgentOnly(permissions.BasePermission):
    """Agent views: only agent credentials, whatever the method."""

    message = "Only endpoint agents may call this."

    def has_permission(self, request, view):
        return bool(getattr(request, "auth", None)) and request_role(request) == roles.AGENT
