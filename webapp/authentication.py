"""Login throttling: django-axes' backend, for sign-ins made over HTTP."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a username and IP address locked out by django-axes (settings.AXES_*).

    Every sign-in over HTTP passes its request (the login view, the admin, DRF's basic authentication); a call
    without one (the test client's ``login``, a shell) has no address to throttle and is left to the next backend
    instead of failing, as axes' own backend would.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        except AxesBackendPermissionDenied:
            # DRF authenticates with its own Request around Django's: flag Django's, which AxesMiddleware answers
            # with the lockout (429) instead of DRF's "invalid username/password".
            getattr(request, "_request", request).axes_locked_out = True
            raise
