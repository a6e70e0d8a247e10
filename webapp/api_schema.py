"""The OpenAPI schema documents what the API answers when it refuses a request, once for every operation.

`AutoSchema` (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) adds to each operation the refusals any request can get,
unless the operation documents that status code itself:
- 400: a body or query that does not validate (field errors as {"field": ["..."]}), JSON that does not parse or
  nests too deep, or text holding a NUL character (webapp.parsers, webapp.nul_characters);
- 403: not signed in, or the role or campaign does not allow it;
- 404: no such object among those the user may see, or no such page of a list; a path that matches no route at
  all (a non-numeric id) gets Django's HTML page;
- 429: too many failed sign-ins with basic authentication (django-axes' lockout page; JSON for XMLHttpRequest).
Operations that hand work to the job queue document 503 themselves, with `QUEUE_UNREACHABLE_RESPONSE`."""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What was refused and why, in a sentence.")


class BadRequestSerializer(serializers.Serializer):
    """{"detail": "..."}, or the fields that did not validate, each with its messages."""

    detail = serializers.CharField(required=False, help_text="Why the request was refused, when not per field.")


HTML_PAGE = {"type": "string", "description": "An HTML page."}
JSON = "application/json"
HTML = "text/html"

# status code -> (description, {media type: serializer or schema})
ERROR_RESPONSES = {
    "400": (
        'Bad input: {"detail": "..."}, or field errors ({"field": ["..."]}). Nothing was written.',
        {JSON: BadRequestSerializer},
    ),
    "403": ("Not signed in, or not allowed for this role or campaign.", {JSON: ErrorSerializer}),
    "404": (
        "No such object among those you may see, or no such page; Django's page for a path that matches no route.",
        {JSON: ErrorSerializer, HTML: HTML_PAGE},
    ),
    "429": (
        "Locked out after too many failed sign-ins (basic authentication) from this address.",
        {JSON: ErrorSerializer, HTML: HTML_PAGE},
    ),
}
QUEUE_UNREACHABLE_RESPONSE = OpenApiResponse(
    ErrorSerializer, description="The job queue is unreachable; nothing was started."
)


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, (description, bodies) in ERROR_RESPONSES.items():
            if code in responses:
                continue
            response = {"description": description, "content": {}}
            for media_type, body in bodies.items():
                documented = self._get_response_for_code(body, code, media_types=[media_type], direction=direction)
                response["content"].update(documented["content"])
            responses[code] = response
        return responses
