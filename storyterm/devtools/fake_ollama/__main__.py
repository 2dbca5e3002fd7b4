"""Runs the stand-in from the command line (see `cli.main` for the options)."""

import sys

from .cli import main

sys.exit(main())
