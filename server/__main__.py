"""``python -m server ...`` runs the ``kvstore`` command (see server/cli.py)."""

from .cli import main

raise SystemExit(main())
