"""``python -m realip``: the same as the ``realip`` command."""

import sys

from .cli import main

sys.exit(main())
