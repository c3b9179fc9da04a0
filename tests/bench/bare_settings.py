"""Bench-only settings: the project's /healthz view with no middleware, no apps, no database.

The healthz bench serves this and ``studio_brain.settings`` with the same server code, so the
difference between the two is the project's middleware stack and settings.
"""

from django.urls import path

from brain.health import healthz

SECRET_KEY = "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
ROOT_URLCONF = "tests.bench.bare_settings"
USE_TZ = True
# The project's settings keep django.server (one line per request) at WARNING; so does this.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"django.server": {"level": "WARNING"}},
}

urlpatterns = [path("healthz", healthz)]
