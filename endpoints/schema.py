"""OpenAPI description of the agent credentials, so the schema and /api/docs/ show them."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
