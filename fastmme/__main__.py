"""``python -m fastmme …``: the command-line interface (fastmme.cli), as the ``fastmme`` command."""
import sys

from .cli import main

sys.exit(main())
