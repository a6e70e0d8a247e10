"""Sign-in pages: django.contrib.auth's views, with password reset offered only when mail is configured.

Without EMAIL_URL (settings.MAIL_CONFIGURED) a reset link could be sent nowhere, so the reset pages answer 404 and
the sign-in page has no "forgot your password" link.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth import views
from django.http import Http404
from django.urls import path


def _only_with_mail(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.MAIL_CONFIGURED:
            raise Http404("Password reset is not offered: this server sends no mail.")
        return view(request, *args, **kwargs)

    return wrapper


class LoginView(views.LoginView):
    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "password_reset_offered": settings.MAIL_CONFIGURED}


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", _only_with_mail(views.PasswordResetView.as_view()), name="password_reset"),
    path("password_reset/done/", _only_with_mail(views.PasswordResetDoneView.as_view()), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        _only_with_mail(views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path("reset/done/", _only_with_mail(views.PasswordResetCompleteView.as_view()), name="password_reset_complete"),
]
