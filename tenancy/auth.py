"""API authentication: `Authorization: Token <key>` decides the user, tenant and role."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from .context import Actor, set_actor, set_tenant, tenant_context
from .models import Membership
from .services import api_token_authenticate, api_token_touch


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Token header must be 'Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Token contains invalid characters.") from exc
        token = api_token_authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        with tenant_context(token.tenant):
            membership = Membership.objects.filter(user_id=token.user_id).first()
            if membership is None:
                raise exceptions.AuthenticationFailed("The token's user left this tenant.")
            api_token_touch(token)
        token.role = membership.role
        set_tenant(token.tenant)
        set_actor(
            Actor(
                kind="token",
                id=token.prefix,
                label=f"{token.user.get_username()} ({token.name})",
                user_id=token.user_id,
            ),
            membership.role,
        )
        request._request.tenant = token.tenant
        request._request.role = membership.role
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
