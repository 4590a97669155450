"""Stopclock settings: one module, read from the environment.

With no environment at all it runs embedded (SQLite under var/, a filesystem Celery broker,
DEBUG on, a generated secret key), so `make run` needs no server. Production sets
DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=0; DESIGN.md section 6
and the README list every variable.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("STOPCLOCK_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


DEBUG = env_bool("DEBUG", True)
# Under pytest: in-process cache, eager Celery unless a test starts a real worker, fast hashes.
TESTING = env_bool("STOPCLOCK_TESTING", "pytest" in sys.modules)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=0.")
    # Embedded mode: generate once and keep it, so sessions survive a restart.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG=0.")
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tenancy",
    "cases",
    "endpoints",
    "intel",
    "metrics",
]

MIDDLEWARE = [
    "tenancy.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "tenancy.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenancy.middleware.TenantMiddleware",
    "tenancy.errors.ApiErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "tenancy.context_processors.tenancy",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'stopclock.sqlite3'}"
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Our backend keeps the session's app.tenant_id in step with the tenant context (RLS).
    _db["ENGINE"] = "tenancy.db.postgresql"
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5))
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # Web server and worker write at once: WAL, a busy timeout and IMMEDIATE transactions
    # keep "database is locked" away (DESIGN.md section 6).
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA foreign_keys=ON;",
    }
    _db["TEST"] = {"NAME": os.environ.get("STOPCLOCK_SQLITE_TEST_NAME") or None}
DATABASES = {"default": _db}
IS_POSTGRES = _db["ENGINE"] == "tenancy.db.postgresql"
# The role the application should run as on PostgreSQL: not a superuser, no BYPASSRLS,
# owning nothing. Migrations GRANT it the rights it needs (tenancy/rls.py).
APP_DB_ROLE = os.environ.get("STOPCLOCK_APP_DB_ROLE", "stopclock_app")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache (login throttling, rate limits, reputation look-ups) --------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
_cache_url = os.environ.get("CACHE_URL")
if not _cache_url and CELERY_BROKER_URL.startswith("redis://"):
    _cache_url = CELERY_BROKER_URL.rsplit("/", 1)[0] + "/1"
if TESTING:  # each test starts with an empty, private cache
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif _cache_url and _cache_url.startswith("redis://"):
    CACHES = {
        "default": {
            # Django's RedisCache, answering "miss" while Redis is down (tenancy/cache.py)
            "BACKEND": "tenancy.cache.ResilientRedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "stopclock"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Socket timeouts: a Redis that stops answering without closing the connection (frozen,
    # a network partition) must fail a publish after seconds (the outbox keeps the message)
    # rather than hang the web request for ever (kombu waits for ever by default).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}  # each app adds its periodic tasks in config/celery.py
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- auth ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed logins allowed per account and per IP in the window before refusing (429).
LOGIN_THROTTLE_ATTEMPTS = env_int("LOGIN_THROTTLE_ATTEMPTS", 5)
LOGIN_THROTTLE_WINDOW = env_int("LOGIN_THROTTLE_WINDOW", 900)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)

# --- i18n / time ------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- static and uploaded files ------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(os.environ.get("STOPCLOCK_MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    # files appear whole or not at all: a full disk leaves no truncated evidence
    "default": {"BACKEND": "tenancy.storage.AtomicFileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenancy.auth.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenancy.permissions.TenantRolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "tenancy.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "tenancy.api.parsers.JSONParser",  # DRF's, with a nesting limit (400, not 500)
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "tenancy.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "tenancy.schema.ApiAutoSchema",  # documents the error responses
    "DEFAULT_THROTTLE_CLASSES": ["tenancy.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("API_THROTTLE_RATE", "6000/min")},
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stopclock API",
    "DESCRIPTION": (
        "Case management for SOC teams. Authenticate with `Authorization: Token <token>`; "
        "the token decides the tenant. Errors are "
        '`{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per choice set shared by several fields (spectacular warns otherwise).
    "ENUM_NAME_OVERRIDES": {
        # cases
        "SeverityEnum": "metrics.targets.SEVERITY_CHOICES",
        "PhaseEnum": "metrics.clocks.PHASE_CHOICES",
        "AlertStatusEnum": "cases.models.AlertStatus",
        "AlertSourceEnum": "cases.models.AlertSource",
        "DismissReasonEnum": "cases.models.DismissReason",
        "CaseStatusEnum": "cases.models.CaseStatus",
        "ResolutionEnum": "cases.models.Resolution",
        "CaseTlpEnum": "cases.models.Tlp",
        "TimelineKindEnum": "cases.models.TimelineEntry.Kind",
        "WebhookDeliveryStatusEnum": "cases.models.WebhookDelivery.Status",
        # endpoints
        "ObservationKindEnum": "endpoints.observation_fields.KIND_CHOICES",
        "OsFamilyEnum": "endpoints.models.OS_FAMILIES",
        "IsolationStateEnum": "endpoints.models.ISOLATION_STATES",
        "StackCategoryEnum": "endpoints.models.STACK_CATEGORIES",
        # response actions
        "ActionTypeEnum": "cases.models.ActionType",
        "ActionStatusEnum": "cases.models.ActionStatus",
        "ActionOutcomeEnum": "cases.models.ACTION_OUTCOMES",
        "BulkActionStatusEnum": "cases.models.BulkAction.Status",
        # intel
        "IocTypeEnum": "intel.models.IOC_TYPE_CHOICES",
        # metrics
        "ReportKindEnum": "metrics.models.Report.Kind",
        "ReportStatusEnum": "metrics.models.Report.Status",
    },
}

# --- security headers ---------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- logging: one JSON object a line, with the request id ----------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING" if TESTING else "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "tenancy.logging.ContextFilter"}},
    "formatters": {"json": {"()": "tenancy.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"level": "WARNING"},
        # WeasyPrint logs every layout step of every page at INFO: hundreds of lines a report.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- Stopclock ---------------------------------------------------------------------------
STOPCLOCK = {
    "TOKEN_PREFIX": "sc",
    # How long an API token lives when its creator does not say (days); 0 = no expiry.
    "TOKEN_DEFAULT_DAYS": env_int("TOKEN_DEFAULT_DAYS", 365),
}

# --- endpoint telemetry (the agent API; README "Configuration") ---------------------------
# A batch body as sent is capped by MAX_REQUEST_BYTES above; these cap what it unpacks to.
TELEMETRY_MAX_DECOMPRESSED_BYTES = env_int("TELEMETRY_MAX_DECOMPRESSED_BYTES", 64 * 1024 * 1024)
TELEMETRY_MAX_RECORDS = env_int("TELEMETRY_MAX_RECORDS", 10_000)
TELEMETRY_MAX_FUTURE_SECONDS = env_int("TELEMETRY_MAX_FUTURE_SECONDS", 3600)

# --- response actions: the agents' long poll (README "Configuration") ----------------------
# Long polls one web process holds at once (each holds a thread); beyond, a poll is answered
# at once with `poll_after` (the agent polls plainly at that interval). The longest wait.
ACTIONS_LONG_POLL_SLOTS = env_int("ACTIONS_LONG_POLL_SLOTS", 2)
ACTIONS_LONG_POLL_MAX_SECONDS = env_int("ACTIONS_LONG_POLL_MAX_SECONDS", 25)
# Polls of one web process using the database at once (the rest queue, holding no connection).
ACTIONS_POLL_DB_CONCURRENCY = env_int("ACTIONS_POLL_DB_CONCURRENCY", 8)
# Without Redis (file cache): how often a waiting poll re-reads its endpoint's bell.
ACTIONS_BELL_CHECK_SECONDS = float(os.environ.get("ACTIONS_BELL_CHECK_SECONDS") or 1.0)
