import time

from django.http import JsonResponse
from django.shortcuts import render
from rest_framework.views import APIView

from webapp.queue import QueueUnavailable


class ServerTimingMiddleware:
    """Adds `Server-Timing: app;dur=<ms>`: the time Django spent on the request, visible in browser dev tools."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response


class QueueUnavailableMiddleware:
    """Answers webapp.queue.QueueUnavailable, from any page or API view that creates work, with a 503: JSON
    `{"detail": ...}` for REST views, a page with the message for the others. The creating service has already
    undone what it wrote (see webapp/queue.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, QueueUnavailable):
            return None
        view_class = getattr(getattr(request.resolver_match, "func", None), "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            return JsonResponse({"detail": str(exception)}, status=503)
        return render(request, "queue_unavailable.html", {"message": str(exception)}, status=503)
