"""WSGI entry point (gunicorn, granian or Django's server)."""

import os
import sys

from django.core.wsgi import get_wsgi_application

from brain.config import ConfigError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio_brain.settings")

try:
    application = get_wsgi_application()
except ConfigError as error:
    sys.stderr.write(f"configuration error: {error}\n")
    raise SystemExit(2) from None
