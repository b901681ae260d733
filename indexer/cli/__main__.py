"""``python -m indexer.cli``: the ``soundalike`` command without the installed script."""

from __future__ import annotations

from indexer.cli import main

main()
