"""A library on disk: the database, the scaler, the genre model and the vector indexes together.

The CLI and the service both go through this class, so a song is added, removed, indexed and
queried the same way whichever door it came in by. The database is the source of truth;
:meth:`Library.sync_index` brings each space's FAISS index (`indexer.model.spaces`) in line
with it.

`Library` is one class written in parts, each in its own module: reads of songs
(`indexer.library_reads`), songs' vectors and the space a query answers from
(`indexer.library_spaces`), one index per space (`indexer.library_indexes`) and writes
(`indexer.library_writes`). This module holds them together and answers neighbour queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Engine

from db.models import Song
from db.repo import SongRow
from db.session import open_database
from indexer.errors import NotFoundError
from indexer.library_indexes import LibraryIndexes
from indexer.library_writes import LibraryWrites
from indexer.model.scaler import Scaler, ensure_scaler
from indexer.model.spaces import DEFAULT_SPACE, SPACES
from indexer.settings import Settings
from indexer.vectors.index import VectorIndex

if TYPE_CHECKING:
    from indexer.model.genre import GenreModel
    from indexer.model.genre_training import FitProgress


@dataclass(frozen=True)
class Neighbour:
    """A song found near a query, with its cosine score."""

    song: Song | SongRow
    score: float


class Library(LibraryIndexes, LibraryWrites):
    """One user's library: database, scaler, genre model and vector index.

    Reads of songs (get, list, search, labels, raw features) come from `LibraryReads`, songs'
    vectors and the answering space from `LibrarySpaces`, the indexes from `LibraryIndexes`
    and writes from `LibraryWrites`.
    """

    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or open_database(settings.database_url)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    @cached_property
    def scaler(self) -> Scaler:
        """Standardization fitted on the GTZAN table (fitted and saved on first need)."""
        return ensure_scaler(self.settings.model_dir)

    def reload_scaler(self) -> None:
        """Read the scaler from disk again at its next use: another process (``soundalike
        train``) may have refitted it and rebuilt the indexes with it."""
        self.__dict__.pop("scaler", None)

    @cached_property
    def genre_model(self) -> GenreModel:
        """The genre classifier (trained on the bundled table and saved on first need)."""
        # Imported here: XGBoost takes seconds to import, and answering neighbour queries (the
        # service's hot path and its start-up) never needs it.
        from indexer.model.genre_training import ensure_genre_model

        return ensure_genre_model(self.settings.model_dir)

    def prepare(self, *, training_progress: FitProgress | None = None) -> None:
        """Load (or on a fresh data dir, fit and save) the scaler and the genre model.

        ``training_progress`` hears of the genre model's fits when it has to be trained.
        """
        _ = self.scaler
        if "genre_model" not in self.__dict__:
            from indexer.model.genre_training import ensure_genre_model  # XGBoost, see above

            # Filled in here, not through the property, so the first training can report.
            self.__dict__["genre_model"] = ensure_genre_model(
                self.settings.model_dir, progress=training_progress
            )

    def stats(self) -> dict[str, object]:
        """Counts and versions for ``soundalike stats`` and the health endpoint.

        ``indexed`` and ``index_generation`` are those of the space a query that names none
        answers from (``space``); ``spaces`` has each.
        """
        songs, genres = self.count_songs(), self.genre_counts()
        manifests = {space: self._read_manifest(space) for space in SPACES}
        answering = self.answering_space(None)
        manifest = manifests[answering]
        return {
            "data_dir": str(self.settings.data_dir),
            "database": self.engine.url.render_as_string(hide_password=True),
            "songs": songs,
            "indexed": manifest.count if manifest else 0,
            "index_generation": manifest.generation if manifest else 0,
            "space": answering,
            "spaces": {
                space: {
                    "indexed": m.count if m else 0,
                    "index_generation": m.generation if m else 0,
                }
                for space, m in manifests.items()
            },
            "model_version": self.genre_model.version,
            "scaler_version": self.scaler.version,
            "genres": genres,
            "sound_space": self.sound_space(),
        }

    def sound_space(self) -> dict[str, object]:
        """Whether every song has the current network description, and how many lack it."""
        missing = self.count_missing_embeddings()
        return {"complete": missing == 0, "missing": missing}

    # --- queries -------------------------------------------------------------------------

    def similar_to_song(
        self,
        song_id: int,
        *,
        k: int,
        index: VectorIndex | None = None,
        space: str = DEFAULT_SPACE,
    ) -> tuple[Song | SongRow, list[Neighbour]]:
        """The ``k`` songs nearest to a library song in ``space``, itself excluded.

        ``index`` is that space's index (loaded when None).
        """
        if index is None:
            index, _ = self.load_index(space=space)
        # The indexed vector is what the neighbours were compared with. Taking it from the index
        # lets the song and its neighbours come back in one query, the service's hot path.
        vector = index.reconstruct(song_id)
        hits = (
            self._search(index, vector, k=k, exclude={song_id}, library_songs=True)
            if vector is not None
            else []
        )
        songs = self.song_rows([song_id, *(i for i, _ in hits)])
        song = songs.get(song_id)
        if song is None:
            raise NotFoundError(f"no song with id {song_id}")
        if vector is None:  # in the database but not yet in this index: compute its vector
            fresh = self.song_vectors([song], index, space=space)[0]
            return song, self.similar_to_vector(
                fresh, k=k, exclude={song_id}, index=index, space=space
            )
        return song, self._neighbours(hits, songs)

    def similar_to_vector(
        self,
        vector: np.ndarray,
        *,
        k: int,
        exclude: set[int] | None = None,
        index: VectorIndex | None = None,
        space: str = DEFAULT_SPACE,
    ) -> list[Neighbour]:
        """The ``k`` songs nearest to a unit vector of ``space``, best first."""
        if index is None:
            index, _ = self.load_index(space=space)
        hits = self._search(index, vector, k=k, exclude=exclude or set())
        return self._neighbours(hits, self.song_rows([i for i, _ in hits]))

    @staticmethod
    def _search(
        index: VectorIndex,
        vector: np.ndarray,
        *,
        k: int,
        exclude: set[int],
        library_songs: bool = False,
    ) -> list[tuple[int, float]]:
        """``(id, score)`` of the ``k`` nearest ids outside ``exclude``, best first."""
        scores, ids = index.search(vector[None, :], k=k + len(exclude), library_songs=library_songs)
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        return [(i, s) for i, s in hits if i not in exclude][:k]

    @staticmethod
    def _neighbours(
        hits: list[tuple[int, float]], songs: Mapping[int, Song | SongRow]
    ) -> list[Neighbour]:
        # An id can be in an index a moment older than the rows: skip what is gone.
        return [Neighbour(songs[i], min(1.0, s)) for i, s in hits if i in songs]
