"""``python -m vagus`` is the ``vagus`` command."""

from vagus.cli import main

raise SystemExit(main())
