"""What the service keeps between requests: the library and a live index reader per space."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask import current_app

from indexer.library import Library
from indexer.model.spaces import SOUND, SPACES
from indexer.recommend.hub_scores import HubCache
from indexer.settings import Settings
from indexer.vectors.index import VectorIndex
from indexer.vectors.store import IndexReader, Manifest


@dataclass(frozen=True)
class SpaceChoice:
    """The space that answers a query, and a note for the answer when it is a fallback."""

    space: str
    note: str | None = None

    def json(self) -> dict[str, str]:
        """``space`` and, for a fallback, ``space_note``: what every neighbour answer says."""
        return {"space": self.space} | ({"space_note": self.note} if self.note else {})


@dataclass
class ServiceState:
    """Per-app state; each space's reader swaps in new generations as the CLI saves them."""

    settings: Settings
    library: Library
    readers: dict[str, IndexReader]
    # CSLS hub scores are cosines within one space: each space keeps its own.
    hubs: dict[str, HubCache] = field(default_factory=lambda: {s: HubCache() for s in SPACES})
    _first_sync: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: Settings, library: Library) -> ServiceState:
        """The state of a service over ``library``, one reader per space's index folder."""
        readers = {space: IndexReader(library.index_dir(space)) for space in SPACES}
        return cls(settings=settings, library=library, readers=readers)

    def index(self, space: str) -> tuple[VectorIndex, Manifest]:
        """The newest saved index of ``space``, created from the database if none was saved,
        and rebuilt from it if the saved one holds vectors of another recipe or dimension
        (`Library.index_is_current`; the 464-d sound index of an older version): a query
        vector of today's recipe must fit it."""
        reader = self.readers[space]
        loaded = reader.current()
        if loaded is None or not self.library.index_is_current(loaded[1], space):
            with self._first_sync:
                loaded = reader.current()
                if loaded is not None and not self.library.index_is_current(loaded[1], space):
                    # A newer scaler than this process read (``soundalike train`` elsewhere)
                    # made the saved index: adopt it rather than rebuild with the old one.
                    self.library.reload_scaler()
                if loaded is None or not self.library.index_is_current(loaded[1], space):
                    self.library.sync_index(space=space)
                    reader.refresh()
                    loaded = reader.current()
        assert loaded is not None
        return loaded

    def answering_space(self, space: str | None, *, seeds: Sequence[int] = ()) -> str:
        """The space a query answers from (`Library.answering_space`)."""
        return self.choose_space(space, seeds=seeds).space

    def choose_space(self, space: str | None, *, seeds: Sequence[int] = ()) -> SpaceChoice:
        """The space a query answers from, and why when it is not the one the query expects.

        The songs lacking a sound embedding, and those the sound index holds, are counted at
        each sync of the sound index, which is also when new ones become searchable; reading
        both from its manifest keeps the hot path free of a count over the whole table.
        """
        if space is not None:
            return SpaceChoice(self.library.answering_space(space))
        _, manifest = self.index(SOUND)
        chosen, note = self.library.space_choice(
            None, seeds=seeds, missing=manifest.missing, sound_songs=manifest.count
        )
        return SpaceChoice(chosen, note)

    def refresh(self) -> None:
        """Check every manifest on the next request, e.g. right after this process synced."""
        for reader in self.readers.values():
            reader.refresh()


def state() -> ServiceState:
    """The state of the app handling this request."""
    return current_app.extensions["soundalike"]
