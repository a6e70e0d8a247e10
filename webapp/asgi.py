"""ASGI entry point: the Django app with the model playground (Gradio) mounted at /playground/.

Serve with ``uvicorn webapp.asgi:application``. webapp/wsgi.py serves Django alone (no playground).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django_application = get_asgi_application()

from training.playground import playground_asgi  # noqa: E402  (needs Django set up)

application = playground_asgi(django_application)
