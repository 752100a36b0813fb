#!/usr/bin/env python
"""The realip Django example's command line.

Start it (one command, from this directory):

    gunicorn --access-logfile - project.wsgi

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/``. See README.md for uvicorn (ASGI), the
REALIP_* variables and ``python manage.py check``.
"""

import os
import sys


def main() -> None:
    """Run a Django management command with this project's settings (unless DJANGO_SETTINGS_MODULE says otherwise)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
