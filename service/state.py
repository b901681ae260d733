"""What the service keeps between requests: the library and the live index reader."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app

from indexer.library import Library
from indexer.recommend.hub_scores import HubCache
from indexer.settings import Settings
from indexer.vectors.index import VectorIndex
from indexer.vectors.store import IndexReader, Manifest


@dataclass
class ServiceState:
    """Per-app state; the index reader swaps in new generations as the CLI saves them."""

    settings: Settings
    library: Library
    reader: IndexReader
    hubs: HubCache = field(default_factory=HubCache)
    _first_sync: threading.Lock = field(default_factory=threading.Lock)

    def index(self) -> tuple[VectorIndex, Manifest]:
        """The newest saved index, created from the database if none was saved yet."""
        loaded = self.reader.current()
        if loaded is None:
            with self._first_sync:
                loaded = self.reader.current()
                if loaded is None:
                    self.library.sync_index()
                    loaded = self.reader.current()
        assert loaded is not None
        return loaded


def state() -> ServiceState:
    """The state of the app handling this request."""
    return current_app.extensions["soundalike"]
