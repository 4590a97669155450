"""OpenAPI description of our authentication and of our errors, so the schema and
/api/docs/ show them."""

import copy

from django.core.exceptions import FieldDoesNotExist
from django.db.models import CharField, ForeignObjectRel, TextField
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions as drf_permissions
from rest_framework import serializers

from . import roles
from .permissions import TenantRolePermission, allowed_roles


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenancy.auth.ApiTokenAuthentication"
    name = "TokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; the token decides the tenant and the role.",
        }


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="`invalid`, `not_found`, `permission_denied`, …")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.JSONField(),
        help_text="What is wrong with each input field (for `invalid`); empty otherwise.",
    )


class ErrorSerializer(serializers.Serializer):
    """The one error format (`tenancy.errors.error_body`)."""

    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: "Invalid input; `error.fields` names each bad field.",
    401: "No credential, or an unknown, expired or revoked one.",
    403: "The credential's role may not do this.",
    404: "No such object in your tenant (another tenant's objects are not found either).",
    413: "The request body is too large.",
    415: "Unsupported Content-Type or Content-Encoding.",
    429: "Too many requests; retry after `Retry-After` seconds.",
    503: "The database or another backing service is unavailable; retry after `Retry-After`.",
}
# For operations whose service may refuse with `tenancy.errors.Conflict`: `responses={...,
# **CONFLICT}` (the body is filled in with the error format).
CONFLICT = {409: OpenApiResponse(description="The object's current state does not allow this.")}

# Query parameters that never make a request invalid (DRF ignores bad values of these;
# `search` is not one: a NUL byte in it is a 400); `page` and `cursor` make a 404 when they
# point past the end.
_LENIENT_QUERY = {"ordering", "page_size"}
_PAGING_QUERY = {"page", "cursor"}


def _model_path(field) -> list:
    """The model fields a read-only serializer field reads through (`case.number`: the
    `case` foreign key, then `number`); empty when that cannot be told."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.source or field.source == "*":
        return []
    path = []
    for name in field.source.split("."):
        try:
            model_field = model._meta.get_field(name)
        except (FieldDoesNotExist, AttributeError):
            return []
        if isinstance(model_field, ForeignObjectRel):
            return []
        path.append(model_field)
        model = model_field.related_model
    return path


def _output_may_be_null(field) -> bool:
    """A read-only field is null when it says so (`default=None`) or when it reads a
    nullable column or through a nullable foreign key."""
    if not getattr(field, "read_only", False) or field.allow_null:
        return False
    if field.default is None:
        return True
    return any(model_field.null for model_field in _model_path(field))


def _blank_choice(field) -> bool:
    if not (isinstance(field, serializers.ChoiceField) and field.read_only) or field.allow_blank:
        return False
    path = _model_path(field)
    return bool(path) and path[-1].blank and isinstance(path[-1], CharField | TextField)


class ApiAutoSchema(AutoSchema):
    """Every operation documents the errors it can answer, in the one error format.

    What an operation can refuse follows from its view — a credential is required (401),
    the role is narrowed (403), an object or page is named (404), input is read (400, 413,
    415), a throttle applies (429) — so a new endpoint is documented with no decorator.
    Conflicts (409) and stale `If-Match` (412) are the view's own to declare; an error
    response declared without a body gets the error format.

    Read-only fields are documented as the serializer writes them: nullable when they can
    be null (a nullable column, a path through a nullable foreign key, `default=None`),
    and a choice column that may be blank lists "" too.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for status in self._error_statuses(operation):
            responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status]})
        error = {
            "application/json": {"schema": self.resolve_serializer(ErrorSerializer, "response").ref}
        }
        for code, response in responses.items():
            if code.isdigit() and int(code) >= 400 and "content" not in response:
                response["content"] = error
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if _output_may_be_null(field):
            meta["nullable"] = True
        return meta

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if _blank_choice(field):
            # DRF drops `allow_blank` from read-only model fields; the column can be "".
            field = copy.copy(field)
            field.allow_blank = True
        return super()._map_serializer_field(field, direction, bypass_extensions)

    def _error_statuses(self, operation: dict) -> list[int]:
        statuses = [503]
        parameters = operation.get("parameters", [])
        query = {p["name"] for p in parameters if p["in"] == "query"}
        has_body = "requestBody" in operation
        has_headers = any(p["in"] == "header" for p in parameters)  # e.g. a malformed If-Match
        if has_body or has_headers or query - _LENIENT_QUERY - _PAGING_QUERY:
            statuses.append(400)
        if has_body:
            statuses += [413, 415]
        view_permissions = self.view.get_permissions()
        if not any(isinstance(p, drf_permissions.AllowAny) for p in view_permissions):
            statuses.append(401)
        if any(isinstance(p, TenantRolePermission) for p in view_permissions) and (
            allowed_roles(self.view, self.method) != roles.ALL
        ):
            statuses.append(403)
        if any(p["in"] == "path" for p in parameters) or query & _PAGING_QUERY:
            statuses.append(404)
        if self.view.get_throttles():
            statuses.append(429)
        return statuses
