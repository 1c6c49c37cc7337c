"""How the API key authentication schemes appear in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BasicKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BasicKeyAuthentication"
    name = "apiKeyBasic"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "HTTP Basic with SecretId as user name and SecretKey as password.",
        }


class SignatureScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SignatureAuthentication"
    name = "apiKeySignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Sign",
            "description": (
                "Send headers SecretId, TimeStamp (unix seconds, within 300 s of the server) and "
                "Sign = Base64(lowercase hex(HMAC-SHA256(SecretKey, METHOD\\nPATH\\nQUERY\\n"
                "TimeStamp\\nSecretId\\n + raw body))); QUERY byte for byte as sent. Each "
                "signature is accepted once."
            ),
        }
