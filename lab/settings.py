"""Django settings for Topolab. Everything a deployment changes comes from the environment."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TOPOLAB_VAR_DIR", BASE_DIR / "var"))

# TOPOLAB_ENV=production (make run and docker-compose set it) refuses to start without a
# real secret key and with DEBUG on; anything else is development (tests, a laptop).
TOPOLAB_ENV = os.environ.get("TOPOLAB_ENV", "development")
PRODUCTION = TOPOLAB_ENV == "production"
_DEV_SECRET_KEY = "topolab-dev-insecure-key-change-me"
SECRET_KEY_MIN_LENGTH = 32


def private_dir(path: Path) -> Path:
    """Create ``path`` as a directory only its owner may enter (0700); tighten ours.

    A directory someone else owns (the web user's ``var/`` seen by the root worker)
    is left as its owner made it.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid == os.geteuid() and info.st_mode & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it is missing; tighten it if it is ours.

    SQLite takes an empty file for an empty database, and gives the journal and WAL
    files it makes the database file's mode (and, running as root, its owner).
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        info = path.stat()
        if info.st_uid == os.geteuid() and info.st_mode & 0o077:
            path.chmod(0o600)
    return path


def read_secret_key(environ: Mapping[str, str] = os.environ) -> str:
    """Return the secret key: ``TOPOLAB_SECRET_KEY``, else ``TOPOLAB_SECRET_KEY_FILE``'s text.

    Outside production a missing key falls back to a fixed development key.

    Raises:
        ImproperlyConfigured: in production, no key, a key shorter than
            ``SECRET_KEY_MIN_LENGTH`` characters, or the development key.
    """
    key = environ.get("TOPOLAB_SECRET_KEY", "")
    key_file = environ.get("TOPOLAB_SECRET_KEY_FILE", "")
    if not key and key_file:
        try:
            key = Path(key_file).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"TOPOLAB_SECRET_KEY_FILE={key_file} cannot be read: {exc.strerror}"
            ) from None
    if environ.get("TOPOLAB_ENV", "development") != "production":
        return key or _DEV_SECRET_KEY
    if not key:
        raise ImproperlyConfigured(
            "TOPOLAB_ENV=production needs a secret key: set TOPOLAB_SECRET_KEY (or "
            "TOPOLAB_SECRET_KEY_FILE), e.g. to the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`"
        )
    if len(key) < SECRET_KEY_MIN_LENGTH or "change-me" in key or key == _DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            f"TOPOLAB_SECRET_KEY is too weak for production: use at least "
            f"{SECRET_KEY_MIN_LENGTH} random characters, not a placeholder"
        )
    return key


private_dir(VAR_DIR)
SECRET_KEY = read_secret_key()
DEBUG = os.environ.get("TOPOLAB_DEBUG", "0") == "1"
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("TOPOLAB_DEBUG=1 is refused with TOPOLAB_ENV=production")
ALLOWED_HOSTS = os.environ.get("TOPOLAB_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("TOPOLAB_CSRF_ORIGINS", "http://127.0.0.1:8000").split(",") if o
]
# Websocket pages may come from these origins (scheme://host:port, compared exactly) or
# from the server's own origin (the Host the request names); see lab/asgi.py.
TOPOLAB_WS_ORIGINS = [
    o for o in os.environ.get("TOPOLAB_WS_ORIGINS", ",".join(CSRF_TRUSTED_ORIGINS)).split(",") if o
]

INSTALLED_APPS = [
    # Django's admin with Topolab's site: superusers only, throttled sign-in.
    "lab.apps.TopolabAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "lab",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost but security: sees every /api/ response, including Django's own errors.
    "lab.api.middleware.ApiErrorShapeMiddleware",
    # Before anything reads request.POST (CSRF does): a malformed form body is a 400.
    "lab.api.middleware.MalformedBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "lab.urls"
ASGI_APPLICATION = "lab.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "lab" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'topolab.sqlite3'}",
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (web, worker, beat) share the file: wait for locks, do not fail.
    if str(DATABASES["default"]["NAME"]) not in ("", ":memory:"):
        private_file(Path(DATABASES["default"]["NAME"]))
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 30, "transaction_mode": "IMMEDIATE"})

# Checked when a user sets a password in the page (POST /api/auth/password).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [p for p in [BASE_DIR / "lab" / "static"] if p.exists()]
LOGIN_URL = "/login"
# JSON in the API's error shape under /api/, Django's page elsewhere.
CSRF_FAILURE_VIEW = "lab.views.csrf_failure"

REDIS_URL = os.environ.get("TOPOLAB_REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 1500, "expiry": 30},
    }
}
CELERY_BROKER_URL = os.environ.get("TOPOLAB_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("TOPOLAB_RESULT_BACKEND", REDIS_URL)

# Topolab's own knobs.
TOPOLAB_HOST_NAME = os.environ.get("TOPOLAB_HOST_NAME", socket.gethostname().split(".")[0])
TOPOLAB_MAX_NODES = int(os.environ.get("TOPOLAB_MAX_NODES", "500"))
# Host interfaces an admin allows as macvlan parents; empty: only parents inside a lab.
TOPOLAB_MACVLAN_PARENTS = [p for p in os.environ.get("TOPOLAB_MACVLAN_PARENTS", "").split(",") if p]
TOPOLAB_CAPTURE_DIR = Path(os.environ.get("TOPOLAB_CAPTURE_DIR", VAR_DIR / "captures"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TOPOLAB_LOG_LEVEL", "INFO")},
}

# A lab host whose last heartbeat is older than this many seconds counts as down.
TOPOLAB_HOST_HEARTBEAT_TIMEOUT = int(os.environ.get("TOPOLAB_HOST_HEARTBEAT_TIMEOUT", "30"))

# Bounds on what one request may ask of a lab host (the agent enforces the same caps,
# read from the same variables, plus TOPOLAB_CAPTURES_PER_LAB, TOPOLAB_CONSOLES_PER_LAB
# and TOPOLAB_CONSOLES_PER_USER).
TOPOLAB_CAPTURE_MAX_SECONDS = float(os.environ.get("TOPOLAB_CAPTURE_MAX_SECONDS", "3600"))
TOPOLAB_CAPTURE_MAX_BYTES = int(os.environ.get("TOPOLAB_CAPTURE_MAX_BYTES", str(64 * 1024**2)))
TOPOLAB_EXEC_TIMEOUT_MAX = float(os.environ.get("TOPOLAB_EXEC_TIMEOUT_MAX", "120"))

# Sign-in throttling (lab/throttle.py): attempts counted in Redis per username and per
# address on the API login, one-time link redemption, password change and /admin/login/.
# Past the limit every attempt, the right password too, is 429 until the window ends.
TOPOLAB_LOGIN_MAX_FAILURES_PER_USER = int(
    os.environ.get("TOPOLAB_LOGIN_MAX_FAILURES_PER_USER", "5")
)
TOPOLAB_LOGIN_MAX_FAILURES_PER_ADDRESS = int(
    os.environ.get("TOPOLAB_LOGIN_MAX_FAILURES_PER_ADDRESS", "30")
)
TOPOLAB_LOGIN_WINDOW_SECONDS = int(os.environ.get("TOPOLAB_LOGIN_WINDOW_SECONDS", "900"))

# -- quotas (lab/quotas.py) -------------------------------------------------------------
# The limits a user gets where no quota of their roles or courses sets one (all a user in
# no course has). Empty or "none": no limit. Admins and superusers are exempt.


def quota_default(name: str, default: int | None) -> int | None:
    """Return the quota default in environment variable ``name``: a whole number >= 0,
    or None for an empty value or "none" (no limit).

    Raises:
        ImproperlyConfigured: anything else, naming the variable.
    """
    from django.core.exceptions import ImproperlyConfigured

    raw = os.environ.get(name)
    if raw is None:
        return default
    text = raw.strip().lower()
    if text in ("", "none"):
        return None
    if not (text.isascii() and text.isdigit()):
        raise ImproperlyConfigured(f"{name}={raw!r}: a quota is a whole number or 'none'")
    return int(text)


TOPOLAB_QUOTA_NODES_PER_LAB = quota_default("TOPOLAB_QUOTA_NODES_PER_LAB", 200)
TOPOLAB_QUOTA_CONCURRENT_LABS = quota_default("TOPOLAB_QUOTA_CONCURRENT_LABS", 10)
TOPOLAB_QUOTA_LABS_OWNED = quota_default("TOPOLAB_QUOTA_LABS_OWNED", 100)
TOPOLAB_QUOTA_HOURS_PER_WEEK = quota_default("TOPOLAB_QUOTA_HOURS_PER_WEEK", None)
