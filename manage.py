#!/usr/bin/env python
"""Django's command-line utility for Studio Brain."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio_brain.settings")
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
