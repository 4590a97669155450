"""OpenAPI description of the agent credentials (so the schema and /api/docs/ show them)
and of the sparse observation objects."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension


class _AuthorizationHeader(OpenApiAuthenticationExtension):
    description = ""

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": self.description,
        }


class AgentTokenScheme(_AuthorizationHeader):
    target_class = "endpoints.auth.AgentTokenAuthentication"
    name = "agentToken"
    description = "`Agent <token>`: the token an agent received at enrolment."


class EnrolmentSecretScheme(_AuthorizationHeader):
    target_class = "endpoints.auth.EnrolmentSecretAuthentication"
    name = "enrolmentSecret"
    description = "`Enrolment <secret>`: the tenant's agent enrolment secret."


class ObservationSerializerScheme(OpenApiSerializerExtension):
    """An observation leaves its absent (null) fields out: only the common ones are
    always there, and the kind's own fields are optional."""

    target_class = "endpoints.api.serializers.ObservationSerializer"

    def map_serializer(self, auto_schema, direction):
        from endpoints.models import OBSERVATION_FIELD_NAMES

        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        optional = set(OBSERVATION_FIELD_NAMES)
        schema["required"] = [name for name in schema.get("required", []) if name not in optional]
        return schema
