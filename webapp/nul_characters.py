"""The NUL character (U+0000) cannot reach PostgreSQL: text and jsonb columns refuse it, and psycopg refuses it in
any query parameter, so one NUL in a note, a name, a prompt or a query string used to answer a 500.

Input is checked where it enters, once for every path: `RefuseNulCharactersMiddleware` for the URL, the query
string, form fields and basic-auth credentials of every request (pages, the admin and the API),
`webapp.parsers.JSONParser` for JSON bodies, and `contains_nul` in services fed by files rather than requests
(agreement.services.judgment_import)."""

from __future__ import annotations

import base64
import binascii

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
MESSAGE = "Text may not contain the NUL character (\\x00): it cannot be stored."


def contains_nul(value) -> bool:
    """Whether `value`, or any key or string inside it (dicts, lists and tuples, however nested), holds a NUL."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def _basic_credentials(request: HttpRequest) -> str:
    """The decoded `Authorization: Basic` credentials (username:password), or "" when there are none."""
    scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""  # DRF's basic authentication refuses it


def _request_has_nul(request: HttpRequest) -> bool:
    if NUL in request.path_info or any(contains_nul([key, *values]) for key, values in request.GET.lists()):
        return True
    if NUL in _basic_credentials(request):
        return True
    if request.method != "POST":
        return False
    # Only form bodies are parsed here (Django leaves request.POST empty for JSON; the API's parser checks that).
    if any(contains_nul([key, *values]) for key, values in request.POST.lists()):
        return True
    return any(NUL in (upload.name or "") for _, uploads in request.FILES.lists() for upload in uploads)


class RefuseNulCharactersMiddleware:
    """A request whose path, query string, form fields, upload names or basic-auth credentials hold a NUL
    character is answered 400 before any view runs, so nothing is written: {"detail": ...} under /api/, plain
    text elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _request_has_nul(request):
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": MESSAGE}, status=400)
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
