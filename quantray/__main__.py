"""``python -m quantray`` runs the CLI."""

import sys

from quantray.cli import main

sys.exit(main())
