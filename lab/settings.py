"""Django settings for Topolab. Everything a deployment changes comes from the environment."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TOPOLAB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# The development key is only for a laptop; a real deployment sets TOPOLAB_SECRET_KEY.
SECRET_KEY = os.environ.get("TOPOLAB_SECRET_KEY", "topolab-dev-insecure-key-change-me")
DEBUG = os.environ.get("TOPOLAB_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("TOPOLAB_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("TOPOLAB_CSRF_ORIGINS", "http://127.0.0.1:8000").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.admin",
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
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 30, "transaction_mode": "IMMEDIATE"})

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
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
