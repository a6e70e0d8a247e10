"""AesLab settings.

Every value has an embedded default so that the app works with nothing configured: SQLite, Celery tasks run
eagerly in-process, media on local disk. `./run demo` adds a real Celery worker on kombu's filesystem broker
(CELERY_BROKER_URL=filesystem://, no server needed). Production sets the
environment (see docker-compose.yml): DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ...
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)
DEVELOPMENT_SECRET_KEY = "aeslab-insecure-development-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY.strip() in ("", DEVELOPMENT_SECRET_KEY):
    # The key signs sessions and encrypts the endpoint API keys stored by distillation (distillation/secrets.py):
    # the one committed here is public.
    raise ImproperlyConfigured(
        "SECRET_KEY must be set in the environment when DEBUG is false (the development key in webapp/settings.py "
        "is public, and the key signs sessions and encrypts stored endpoint API keys). Generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "annotation",
    "pipelines",
    "agreement",
    "distillation",
    "exports",
    "training",
    "leaderboards",
    "axes",
]

MIDDLEWARE = [
    "webapp.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "webapp.nul_characters.RefuseNulCharactersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out sign-in into the lockout page
    "webapp.middleware.QueueUnavailableMiddleware",
]

ROOT_URLCONF = "webapp.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "webapp.wsgi.application"
# The model playground (Gradio) is part of the ASGI app (webapp/asgi.py); docker-compose serves it from its own
# single-process service, since Gradio's queue cannot span worker processes.
PLAYGROUND_URL = env.str("PLAYGROUND_URL", default="/playground/")

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web process and its worker write to one SQLite file: write-ahead logging lets readers run beside
    # the writer, IMMEDIATE transactions take the write lock up front (no upgrade deadlock), and a writer waits
    # for the lock instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT failed sign-ins for one username from one IP address,
# that username is refused from that address (HTTP 429, templates/registration/lockout.html) for
# LOGIN_COOLOFF_MINUTES; a successful sign-in clears the count. The throttle backend comes first: it refuses a
# locked-out pair before any password is checked.
AUTHENTICATION_BACKENDS = [
    "webapp.authentication.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_VERBOSE = False  # no banner on every start of every process

# Mail (password reset): EMAIL_URL as django-environ reads it, e.g. smtp+tls://user:password@smtp.example.com:587.
# Without it no mail can be sent, so password reset is not offered (its pages answer 404).
EMAIL_URL = env.str("EMAIL_URL", default="")
MAIL_CONFIGURED = bool(EMAIL_URL)
if MAIL_CONFIGURED:
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="aeslab@localhost")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]

MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    # S3-compatible object storage (AWS, MinIO, R2); credentials come from the usual AWS_* variables.
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    # Media are private: the browser gets presigned URLs (SigV4, which every S3-compatible store accepts), valid
    # long enough to watch a pair; the bucket answers the player's Range requests itself.
    AWS_QUERYSTRING_AUTH = True
    AWS_S3_SIGNATURE_VERSION = env.str("AWS_S3_SIGNATURE_VERSION", default="s3v4")
    AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=3600)
    AWS_DEFAULT_ACL = None
    DEFAULT_FILE_STORAGE_BACKEND = "storages.backends.s3.S3Storage"
else:
    DEFAULT_FILE_STORAGE_BACKEND = "django.core.files.storage.FileSystemStorage"

STORAGES = {
    "default": {"BACKEND": DEFAULT_FILE_STORAGE_BACKEND},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Django's cache: the workbench's rubric and checklist markup, leaderboards, the pair browser. One process keeps its
# own by default; several machines share one with CACHE_URL=redis://host:6379/1 (a Redis database apart from the
# broker's), so a definition is rendered once for all of them.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
# With a cache every process shares, a session is read from it (written through to the database): one query fewer on
# every request. Not with a cache per process: a session ended in one process would live on in another's copy.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.db"
    if CACHES["default"]["BACKEND"].endswith("LocMemCache")
    else "django.contrib.sessions.backends.cached_db"
)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Uploads larger than this go to a temporary file on disk rather than memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Celery: with no broker configured, tasks run eagerly in the calling process.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis down: a request that creates work learns it within a few seconds and answers 503 (webapp/queue.py). The
# connection attempt is bounded, a blackholed or hung Redis cannot hold a socket for ever, and creation paths
# publish without retries. Results are never read (state lives in PostgreSQL), so publishing does not wait on the
# result store either (it retried for ~19 s when Redis was down).
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2.0, "socket_timeout": 4.0}  # > the 1 s BRPOP of workers
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker of `./run demo`: messages are files in one folder that the web process writes and the
    # worker reads (kombu's filesystem transport), so background work runs as in production with no server.
    # Unlike Redis, a message is taken off the folder when a worker reads it: a worker killed mid-task loses it.
    CELERY_BROKER_FOLDER = Path(env.str("CELERY_BROKER_FOLDER", default=str(BASE_DIR / ".demo" / "broker")))
    for _folder in ("queue", "control"):
        (CELERY_BROKER_FOLDER / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
    }
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)  # results are never read
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE

# Training: rm_training runs on a dedicated worker (`celery -A webapp worker -Q gpu --concurrency 1`).
TRAINING_QUEUE = env.str("TRAINING_QUEUE", default="gpu")
CELERY_TASK_ROUTES = {"training.tasks.training_job_run_task": {"queue": TRAINING_QUEUE}}
TRAINING_MODEL_DIRS = env.list("TRAINING_MODEL_DIRS", default=[])  # base-model folders offered on the Train page
TRAINING_ROOT = env.str("TRAINING_ROOT", default="")  # runs and logs; default MEDIA_ROOT/../training-runs
EXPORTS_ROOT = env.str("EXPORTS_ROOT", default="")  # export snapshots; default MEDIA_ROOT/../export-snapshots
TRAINING_HEARTBEAT_SECONDS = env.float("TRAINING_HEARTBEAT_SECONDS", default=2.0)
TRAINING_HEARTBEAT_TIMEOUT_SECONDS = env.float("TRAINING_HEARTBEAT_TIMEOUT_SECONDS", default=120.0)
TRAINING_CANCEL_GRACE_SECONDS = env.float("TRAINING_CANCEL_GRACE_SECONDS", default=10.0)
TRAINING_WORKER_CHECK_TIMEOUT_SECONDS = 1.0

# Video ingest limits: anything outside them is rejected before a row or file is written.
VIDEO_MAX_BYTES = env.int("VIDEO_MAX_BYTES", default=512 * 1024 * 1024)
VIDEO_MAX_DURATION_SECONDS = env.float("VIDEO_MAX_DURATION_SECONDS", default=120.0)
VIDEO_ALLOWED_CODECS = env.list(
    "VIDEO_ALLOWED_CODECS",
    default=["h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "prores", "mjpeg", "mpeg2video"],
)
VIDEO_MAX_WIDTH = env.int("VIDEO_MAX_WIDTH", default=4096)
VIDEO_MAX_HEIGHT = env.int("VIDEO_MAX_HEIGHT", default=2160)
VIDEO_MAX_FPS = env.float("VIDEO_MAX_FPS", default=120.0)
VIDEO_MAX_FRAMES = env.int("VIDEO_MAX_FRAMES", default=36000)
VIDEO_PROXY_MAX_HEIGHT = env.int("VIDEO_PROXY_MAX_HEIGHT", default=720)
VIDEO_PROXY_CRF = env.int("VIDEO_PROXY_CRF", default=23)
# An ffmpeg run (proxy or poster) that takes longer is killed and the video marked failed.
VIDEO_TRANSCODE_TIMEOUT_SECONDS = env.float("VIDEO_TRANSCODE_TIMEOUT_SECONDS", default=600.0)
# Ingest work folders (one per job, removed when its owner process is gone): default TMPDIR/aeslab-ingest.
INGEST_TEMP_ROOT = env.str("INGEST_TEMP_ROOT", default="")
# Folders besides a manifest's own that its video paths may point into.
IMPORT_ROOTS = env.list("IMPORT_ROOTS", default=[])

# Exports: a running build beats every EXPORT_HEARTBEAT_SECONDS; one silent for EXPORT_STALE_SECONDS lost its
# worker and is resumed (up to EXPORT_BUILD_MAX_ATTEMPTS builds in all) or failed, checked every
# EXPORT_CHECK_INTERVAL_SECONDS by beat and whenever the export pages are viewed.
EXPORT_HEARTBEAT_SECONDS = env.float("EXPORT_HEARTBEAT_SECONDS", default=5.0)
EXPORT_STALE_SECONDS = env.float("EXPORT_STALE_SECONDS", default=60.0)
EXPORT_BUILD_MAX_ATTEMPTS = env.int("EXPORT_BUILD_MAX_ATTEMPTS", default=3)
EXPORT_CHECK_INTERVAL_SECONDS = env.float("EXPORT_CHECK_INTERVAL_SECONDS", default=30.0)
EXPORT_PAIR_BATCH_SIZE = env.int("EXPORT_PAIR_BATCH_SIZE", default=2000)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "webapp.api_schema.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "webapp.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AesLab API",
    "DESCRIPTION": "Expert video-aesthetics annotation and reward-model data.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Exports and training jobs share one status set; videos have their own.
    "ENUM_NAME_OVERRIDES": {"JobStatusEnum": "exports.models.ExportSnapshot.Status"},
}

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

CELERY_BEAT_SCHEDULE = {
    # Re-enqueue videos left pending by a lost worker.
    "requeue-stale-pending-videos": {
        "task": "pipelines.tasks.videos_pending_requeue_task",
        "schedule": 15 * 60,
        "kwargs": {"older_than_minutes": 15},
    },
    # Fail training jobs whose gpu worker was lost (no heartbeat).
    "training-heartbeat-check": {"task": "training.tasks.training_heartbeat_check_task", "schedule": 60},
    # Resume or fail exports whose builder stopped beating.
    "export-builds-check": {
        "task": "exports.tasks.export_builds_check_task",
        "schedule": EXPORT_CHECK_INTERVAL_SECONDS,
    },
}
