"""Brewverse settings: one module, read from the environment.

The embedded defaults (SQLite, in-memory channel layer, DEBUG on, a generated signing key) let
`make run` work on a fresh machine. Production sets SECRET_KEY, DEBUG=false and ALLOWED_HOSTS, and
`DATABASE_URL` and `REDIS_URL` for PostgreSQL and Redis (docs/deploy.md).
"""

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
import dj_email_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)


def generated_secret_key(path: Path) -> str:
    """The key in `path`, made there once (random, mode 0600) if it is not there yet.

    The key appears whole or not at all (written aside, then linked into place), so processes that
    start together agree on it.
    """
    if not path.exists():
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret_key-")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(50))
            os.link(draft, path)
        except FileExistsError:  # another process was first: its key it is
            pass
        finally:
            os.unlink(draft)
    return path.read_text().strip()


# No signing key is written in the repository. Without SECRET_KEY in the environment, development
# signs with a random key generated once into SECRET_KEY_FILE (beside the SQLite database, git-ignored),
# so sessions and tokens survive restarts; with DEBUG off the key must come from the environment.
# `check --deploy` fails on the generated key (brewverse/checks.py).
SECRET_KEY_FILE = Path(os.environ.get("SECRET_KEY_FILE") or BASE_DIR / ".secret_key")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY.startswith("django-insecure-")):
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (a random key, not a django-insecure- one).")
if not SECRET_KEY:
    SECRET_KEY = generated_secret_key(SECRET_KEY_FILE)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# --- HTTPS, cookies and headers (docs/security.md) ----------------------------------------------
# Development is plain http on 127.0.0.1; with DEBUG off the cookies are secure and HSTS is on by
# default. Both only act on requests Django sees as https: behind a proxy that terminates TLS, set
# USE_X_FORWARDED_PROTO=true, and have the proxy overwrite X-Forwarded-Proto on every request.
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# A load balancer's health check may stay on plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS") or (0 if DEBUG else 31_536_000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# The pages' script reads the CSRF token from its cookie (static/js/api.js), as Django intends:
# an HttpOnly CSRF cookie protects nothing, the token is in every page anyway.
CSRF_COOKIE_HTTPONLY = False

INSTALLED_APPS = [
    "daphne",
    "brewverse",
    "brewverse.admin_site.BrewverseAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "channels",
    "accounts",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "brewverse.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "brewverse.urls"
ASGI_APPLICATION = "brewverse.asgi.application"

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

# --- Database -----------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so concurrent writers wait (up to the
    # timeout) instead of failing with "database is locked" on lock upgrade. The test database is a
    # file so that a real daphne process started by the tests sees the same data.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    # TEST_DB_SUFFIX lets parallel test runs on one checkout keep apart.
    test_db = f"test_db{os.environ.get('TEST_DB_SUFFIX', '')}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / test_db)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Channels and cache -------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "brewverse.channel_layers.RedisChannelLayer",  # channels_redis' + group_send_many
            # redis-py 8 times socket reads out after 5 s by default, exactly the 5 s that the layer's
            # BZPOPMIN blocks for: every idle socket's receive would fail. Reads get 10 s instead.
            # Its pool also refuses a connection past max_connections (100 by default) instead of waiting,
            # which a loaded process reaches (bench/, docs/performance.md).
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 10, "max_connections": 1000}],
                "capacity": 1500,
                "expiry": 60,
            },
        }
    }
    # Throttle counters must be shared by every process, so they live in Redis too.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "brewverse",
        }
    }
else:
    # One process only (docs/realtime.md). Its default capacity of 100 frames per socket silently drops
    # frames under a burst, so it gets the same capacity as Redis.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "brewverse.channel_layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1500}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication -----------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "app"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, refusing tokens from before a password change (accounts/authentication.py).
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["brewverse.parsers.JSONParser"],
    # drf-spectacular's, plus the 4xx answers of every operation.
    "DEFAULT_SCHEMA_CLASS": "brewverse.schema.AutoSchema",
    "EXCEPTION_HANDLER": "chat.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # The client IP of the IP throttles is REMOTE_ADDR. DRF's default (None) would trust a client's own
    # X-Forwarded-For, so one attacker could claim a new IP per login attempt. Behind proxies that
    # append to X-Forwarded-For, set NUM_PROXIES to their number (docs/security.md).
    "NUM_PROXIES": int(os.environ.get("NUM_PROXIES", "0")),
    "DEFAULT_THROTTLE_RATES": {
        "login_username": os.environ.get("THROTTLE_LOGIN_USERNAME", "10/min"),
        "login_ip": os.environ.get("THROTTLE_LOGIN_IP", "30/min"),
        "signup_ip": os.environ.get("THROTTLE_SIGNUP_IP", "20/hour"),
        "password_reset_ip": os.environ.get("THROTTLE_PASSWORD_RESET_IP", "10/hour"),
        "message_post": os.environ.get("THROTTLE_MESSAGE_POST", "600/min"),
        "verification_resend": os.environ.get("THROTTLE_VERIFICATION_RESEND", "5/hour"),
    },
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "15"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=int(os.environ.get("JWT_REFRESH_DAYS", "14"))),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Tokens carry the password's `auth_hash` and a refresh family (accounts/tokens.py).
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.AccessToken",),
}

# Signups confirm their email address before they can log in (docs/security.md); off on the embedded
# defaults, where mail goes to the console. A link works for EMAIL_VERIFICATION_MAX_AGE seconds.
EMAIL_VERIFICATION = env_bool("EMAIL_VERIFICATION", False)
EMAIL_VERIFICATION_MAX_AGE = int(os.environ.get("EMAIL_VERIFICATION_MAX_AGE", str(3 * 24 * 3600)))

SPECTACULAR_SETTINGS = {
    "TITLE": "Brewverse API",
    "DESCRIPTION": "REST API of the Brewverse chat server. WebSockets are described in docs/realtime.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The error codes' enum is named after the one list of them.
    "ENUM_NAME_OVERRIDES": {"ErrorCode": "chat.errors.ErrorCode"},
}

# --- Internationalisation and static files ------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "brewverse.storage.StaticFilesStorage"
    },
}

# --- Chat limits --------------------------------------------------------------------------------
MESSAGE_MAX_LENGTH = 4096

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
# Seconds a batch of group sends may take before it is logged as failed (the change is saved anyway).
CHANNEL_SEND_TIMEOUT = float(os.environ.get("CHANNEL_SEND_TIMEOUT", "3"))
# Frames one user may send, on all their sockets together: a burst of SOCKET_FRAME_BURST, refilled at
# SOCKET_FRAME_RATE per second.
SOCKET_FRAME_BURST = float(os.environ.get("SOCKET_FRAME_BURST", "200"))
SOCKET_FRAME_RATE = float(os.environ.get("SOCKET_FRAME_RATE", "20"))
# Sockets one user may have open of each kind (chat, notifications), in all processes together.
SOCKETS_PER_USER = int(os.environ.get("SOCKETS_PER_USER", "20"))
# A socket opened with the session cookie closes (4419, the page reconnects) after this many seconds,
# so none outlives its credential for long even if every check of it were missed.
SESSION_SOCKET_MAX_AGE = float(os.environ.get("SESSION_SOCKET_MAX_AGE", str(4 * 3600)))
# A client frame larger than this is refused without being parsed.
SOCKET_MAX_FRAME_BYTES = int(os.environ.get("SOCKET_MAX_FRAME_BYTES", str(64 * 1024)))

# --- Presence and email for people who are away (docs/notifications.md) -------------------------
# A socket counts as open for PRESENCE_TTL seconds after its last heartbeat (every PRESENCE_HEARTBEAT
# seconds), so the sockets of a crashed process stop counting on their own.
PRESENCE_TTL = float(os.environ.get("PRESENCE_TTL", "60"))
PRESENCE_HEARTBEAT = float(os.environ.get("PRESENCE_HEARTBEAT", "20"))
# `manage.py run_notifier` emails unread messages older than NOTIFY_DELAY seconds, every NOTIFY_INTERVAL.
NOTIFY_DELAY = float(os.environ.get("NOTIFY_DELAY", "300"))
NOTIFY_INTERVAL = float(os.environ.get("NOTIFY_INTERVAL", "30"))
# Where the links in emails point.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Brewverse <noreply@brewverse.local>")
# Mail goes to the console unless EMAIL_URL (smtp://user:pass@host:587/?tls=True) or the standard
# EMAIL_* variables say otherwise.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "sent-emails"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "30"))
if os.environ.get("EMAIL_URL"):
    _email = dj_email_url.parse(os.environ["EMAIL_URL"])
    globals().update({key: value for key, value in _email.items() if value not in (None, "")})
