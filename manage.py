#!/usr/bin/env python
"""Django's command-line utility for Studio Brain."""

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio_brain.settings")
    # DATABASE_URL / REDIS_URL unset: use the services a running `make run` started.
    from brain.embedded import run_environ_apply

    problem = run_environ_apply(Path(__file__).resolve().parent)
    if problem:
        sys.stderr.write(f"manage.py: {problem}\n")
        sys.exit(2)
    from django.core.management import execute_from_command_line

    from brain.config import ConfigError

    try:
        execute_from_command_line(sys.argv)
    except ConfigError as error:
        # The contract's message is one line that names the variable, range and fix.
        sys.stderr.write(f"configuration error: {error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
