"""A library on disk: the database, the scaler, the genre model and the vector index together.

The CLI and the service both go through this class, so a song is added, removed, indexed and
queried the same way whichever door it came in by. The database is the source of truth;
:meth:`Library.sync_index` brings the FAISS index in line with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from db import repo
from db.models import Song, features_to_bytes, floats_to_bytes
from db.repo import SongRow
from db.session import open_database, writer
from indexer.audio.feature_columns import N_FEATURES
from indexer.errors import NotFoundError, StoreError
from indexer.library_reads import LibraryReads
from indexer.model.scaler import Scaler, ensure_scaler
from indexer.settings import Settings
from indexer.vectors.index import VectorIndex
from indexer.vectors.kinds import (
    HNSW_MAX_MASKED_FRACTION,
    needs_rebuild,
    resolve_kind,
    target_kind,
)
from indexer.vectors.store import Manifest, load_index, read_manifest, save_index, write_lock

if TYPE_CHECKING:
    from indexer.audio.analyse import Refreshed, SongRecord, SoundRecord
    from indexer.model.genre import GenreModel, GenrePrediction
    from indexer.model.genre_training import FitProgress

# Rows changed this long before the last sync are re-checked anyway: clocks of writers differ.
SYNC_SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class Neighbour:
    """A song found near a query, with its cosine score."""

    song: Song | SongRow
    score: float


class Library(LibraryReads):
    """One user's library: database, scaler, genre model and vector index.

    Reads of songs (get, list, search, labels, raw features) come from `LibraryReads`.
    """

    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or open_database(settings.database_url)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def write_session(self) -> Session:
        """A new ORM session for writing: on SQLite it waits for other writers up front."""
        return Session(writer(self.engine), expire_on_commit=False)

    @cached_property
    def scaler(self) -> Scaler:
        """Standardization fitted on the GTZAN table (fitted and saved on first need)."""
        return ensure_scaler(self.settings.model_dir)

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

    def vectors(self, raw: np.ndarray) -> np.ndarray:
        """Raw features [shape=(n, 57)] to unit vectors [shape=(n, 57)] for the index."""
        return self.scaler.transform(np.atleast_2d(raw))

    def song_vectors(self, songs: Sequence[Song | SongRow], index: VectorIndex) -> np.ndarray:
        """The songs' unit vectors [shape=(n, d)]: from ``index``, else their transformed features.

        The indexed vector is what neighbours were compared with, so it is preferred; a song not
        yet in this index (or an index kind that cannot give vectors back) falls back to the
        scaler, which is what the next sync will store.
        """
        found = [index.reconstruct(song.id) for song in songs]
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            fresh = self.vectors(np.vstack([songs[i].feature_vector for i in missing]))
            for i, vector in zip(missing, fresh, strict=True):
                found[i] = vector
        if not found:
            return np.zeros((0, self.scaler.dim), dtype=np.float32)
        return np.vstack([np.asarray(vector, dtype=np.float32) for vector in found])

    # --- writing -------------------------------------------------------------------------

    def write_songs(self, records: Sequence[SongRecord]) -> list[int]:
        """Insert or update songs (by path) with their genre; returns their ids in order."""
        if not records:
            return []
        raw = np.vstack([r.features for r in records])
        if raw.shape[1] != N_FEATURES or not np.isfinite(raw).all():
            raise StoreError("refusing to store non-finite or misshapen features")
        predictions = self.genre_model.predict(raw)
        ids: list[int] = []
        with self.write_session() as session, session.begin():
            for record, prediction in zip(records, predictions, strict=True):
                song = repo.get_song_by_path(session, record.path) or Song(path=record.path)
                self._fill(song, record, prediction)
                session.add(song)
                session.flush()
                ids.append(song.id)
        return ids

    def _fill(self, song: Song, record: SongRecord, prediction: GenrePrediction) -> None:
        song.content_hash = record.content_hash
        song.size_bytes = record.size_bytes
        song.mtime_ns = record.mtime_ns
        song.title = record.title
        song.artist = record.artist
        song.album = record.album
        song.duration_s = record.duration_s
        song.features = features_to_bytes(record.features)
        song.audio_hash = record.audio_hash
        if record.sound is not None:
            song.embedding = floats_to_bytes(record.sound.embedding)
            song.tag_probabilities = floats_to_bytes(record.sound.tags)
            song.embedding_version = record.sound.version
        else:
            # Too short for one patch: the version says it was tried (see `store_sounds`).
            song.embedding = song.tag_probabilities = None
            song.embedding_version = record.sound_version
        song.genre = prediction.label
        song.genre_confidence = prediction.confidence
        song.genre_probabilities = prediction.probabilities
        song.model_version = self.genre_model.version
        song.updated_at = datetime.now(UTC)

    def store_sounds(self, records: Sequence[SoundRecord]) -> list[int]:
        """Store the network's description of indexed songs, in one transaction; their ids.

        Features, tags and genre stay as they are. A record whose row no longer shows the file
        it describes (same path, size and mtime) is not stored: another run re-analysed or moved
        the file meanwhile, and the row's own analysis wins. A record without a description
        (a window shorter than one 3-s patch) stores a NULL embedding with the version set:
        "too short under this recipe", which `count_missing_embeddings` and the next backfill
        leave alone until the recipe changes. The window's audio hash is stored too (same
        file as the features came from), so a later tag edit refreshes the row instead of
        analysing it again. ``updated_at`` moves, so the next index sync sees the row.
        """
        stored: list[int] = []
        with self.write_session() as session, session.begin():
            songs = repo.get_songs(session, [r.song_id for r in records])
            for record in records:
                song = songs.get(record.song_id)
                if song is None or (song.path, song.size_bytes, song.mtime_ns) != (
                    record.path,
                    record.size_bytes,
                    record.mtime_ns,
                ):
                    continue
                if record.sound is None:
                    song.embedding = song.tag_probabilities = None
                else:
                    song.embedding = floats_to_bytes(record.sound.embedding)
                    song.tag_probabilities = floats_to_bytes(record.sound.tags)
                song.embedding_version = record.version
                if record.audio_hash is not None:
                    song.audio_hash = record.audio_hash
                song.updated_at = datetime.now(UTC)
                stored.append(song.id)
        return stored

    def refresh_songs(self, refreshes: Sequence[Refreshed]) -> int:
        """Record new file state and tags of files whose audio did not change; returns rows changed.

        The features, embedding, tag probabilities, genre and audio hash stay: they were
        computed from the same samples. The row's size, mtime and content hash match the file
        again, so its audio is served again. A row that no longer holds the refresh's audio
        hash (gone, or analysed again by another run meanwhile) is left as it is.
        """
        changed = 0
        with self.write_session() as session, session.begin():
            for fresh in refreshes:
                song = repo.get_song_by_path(session, fresh.path)
                if song is None or song.audio_hash != fresh.audio_hash:
                    continue
                song.content_hash = fresh.content_hash
                song.size_bytes = fresh.size_bytes
                song.mtime_ns = fresh.mtime_ns
                song.title = fresh.title
                song.artist = fresh.artist
                song.album = fresh.album
                song.duration_s = fresh.duration_s
                changed += 1
        return changed

    def move_song(self, song_id: int, new_path: str, *, mtime_ns: int) -> None:
        """Record that a file moved: same content, new path, no re-analysis."""
        with self.write_session() as session, session.begin():
            song = repo.get_song(session, song_id)
            if song is None:
                raise NotFoundError(f"no song with id {song_id}")
            song.path = new_path
            song.mtime_ns = mtime_ns

    def insert_songs_bulk(self, rows: Sequence[dict[str, object]]) -> None:
        """Insert ready-made rows in one statement (seeding benchmarks); no genre prediction."""
        with self.write_session() as session, session.begin():
            repo.insert_songs_bulk(session, rows)

    def remove_songs(self, ids: Iterable[int]) -> int:
        """Delete songs by id from the database (call :meth:`sync_index` after)."""
        with self.write_session() as session, session.begin():
            return repo.delete_songs(session, ids)

    def relabel_genres(self) -> int:
        """Predict every song's genre again with the current model; returns songs changed."""
        changed = 0
        with self.write_session() as session:
            for ids, raw in repo.iter_features(session):
                songs = repo.get_songs(session, ids.tolist())
                for song_id, prediction in zip(ids, self.genre_model.predict(raw), strict=True):
                    song = songs[int(song_id)]
                    song.genre = prediction.label
                    song.genre_confidence = prediction.confidence
                    song.genre_probabilities = prediction.probabilities
                    song.model_version = self.genre_model.version
                    changed += 1
                session.commit()
        return changed

    def stats(self) -> dict[str, object]:
        """Counts and versions for ``soundalike stats`` and the health endpoint."""
        songs, genres = self.count_songs(), self.genre_counts()
        manifest = read_manifest(self.settings.index_dir)
        return {
            "data_dir": str(self.settings.data_dir),
            "database": self.engine.url.render_as_string(hide_password=True),
            "songs": songs,
            "indexed": manifest.count if manifest else 0,
            "index_generation": manifest.generation if manifest else 0,
            "model_version": self.genre_model.version,
            "scaler_version": self.scaler.version,
            "genres": genres,
            "sound_space": self.sound_space(),
        }

    def sound_space(self) -> dict[str, object]:
        """Whether every song has the current network description, and how many lack it."""
        missing = self.count_missing_embeddings()
        return {"complete": missing == 0, "missing": missing}

    # --- the index -----------------------------------------------------------------------

    def sync_index(self) -> Manifest:
        """Bring the saved index in line with the database; save a new generation if it changed.

        Adds rows the index lacks, drops ids the database no longer has and re-adds rows
        changed since the last sync; a scaler change rebuilds from scratch, and so does a
        change of index kind (the library crossed the size threshold, or the configured kind
        changed). An HNSW graph with too many masked (removed) nodes is compacted. Safe to run
        after a crash: whatever the database holds ends up in the index exactly once. When
        nothing changed, the current generation stays, so running services do not reload.
        """
        with write_lock(self.settings.index_dir):
            index, manifest = self._load_for_sync()
            with self._session() as session:
                db_ids = repo.all_ids(session)
                synced_at = session.scalar(select(func.max(Song.updated_at)))
                kind = target_kind(
                    self.settings.index_kind,
                    manifest.kind if manifest else None,
                    len(db_ids),
                    threshold=self.settings.index_threshold,
                )
                if kind != index.kind or needs_rebuild(kind, index.params, len(db_ids)):
                    return self._save(self._build_from_rows(session, kind), synced_at)
                recent: set[int] = set()
                if manifest is not None and manifest.synced_at:
                    since = datetime.fromisoformat(manifest.synced_at) - SYNC_SLACK
                    recent = set(
                        session.scalars(select(Song.id).where(Song.updated_at >= since)).all()
                    )
                index_ids = index.ids()
                changed = index.remove(np.setdiff1d(index_ids, db_ids)) > 0
                wanted = set(np.setdiff1d(db_ids, index_ids).tolist()) | recent
                for ids, raw in repo.iter_features(session, wanted):
                    vectors = self.vectors(raw)
                    fresh = [
                        i
                        for i, (song_id, vector) in enumerate(zip(ids, vectors, strict=True))
                        if not _same_vector(index.reconstruct(int(song_id)), vector)
                    ]
                    index.add(ids[fresh], vectors[fresh])
                    changed = changed or bool(fresh)
            if index.masked > HNSW_MAX_MASKED_FRACTION * (len(index) + index.masked):
                index, changed = index.compact(), True
            if (
                manifest is not None
                and not changed
                and manifest.model_version == (self.genre_model.version)
            ):
                return manifest
            return self._save(index, synced_at)

    def rebuild_index(self, *, kind: str | None = None) -> Manifest:
        """Recreate the index from every row, ignoring whatever is on disk.

        ``kind`` overrides the configured kind for this rebuild (``auto`` picks by size).
        """
        with write_lock(self.settings.index_dir), self._session() as session:
            synced_at = session.scalar(select(func.max(Song.updated_at)))
            n = repo.count_songs(session)
            resolved = resolve_kind(
                kind or self.settings.index_kind, n, threshold=self.settings.index_threshold
            )
            return self._save(self._build_from_rows(session, resolved), synced_at)

    def _build_from_rows(self, session: Session, kind: str) -> VectorIndex:
        id_parts: list[np.ndarray] = []
        vector_parts: list[np.ndarray] = []
        for ids, raw in repo.iter_features(session):
            id_parts.append(ids)
            vector_parts.append(self.vectors(raw).astype(np.float32))
        if not id_parts:
            id_parts, vector_parts = [np.zeros(0, np.int64)], [np.zeros((0, self.scaler.dim))]
        return VectorIndex.build(np.concatenate(id_parts), np.vstack(vector_parts), kind=kind)

    def _save(self, index: VectorIndex, synced_at: datetime | None) -> Manifest:
        return save_index(
            index,
            self.settings.index_dir,
            scaler_version=self.scaler.version,
            model_version=self.genre_model.version,
            synced_at=_iso(synced_at),
        )

    def _load_for_sync(self) -> tuple[VectorIndex, Manifest | None]:
        try:
            manifest = read_manifest(self.settings.index_dir)
            if manifest is None or manifest.scaler_version != self.scaler.version:
                return VectorIndex.empty(self.scaler.dim), None
            return load_index(self.settings.index_dir)
        except StoreError:
            # A damaged index is only derived data: start over from the rows.
            return VectorIndex.empty(self.scaler.dim), None

    def load_index(self) -> tuple[VectorIndex, Manifest]:
        """The saved index for queries, synced from the database first if it is missing."""
        try:
            return load_index(self.settings.index_dir)
        except StoreError:
            self.sync_index()
            return load_index(self.settings.index_dir)

    # --- queries -------------------------------------------------------------------------

    def similar_to_song(
        self, song_id: int, *, k: int, index: VectorIndex | None = None
    ) -> tuple[Song | SongRow, list[Neighbour]]:
        """The ``k`` songs nearest to a library song, itself excluded."""
        if index is None:
            index, _ = self.load_index()
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
        if vector is None:  # in the database but not yet in this index: transform its features
            return song, self.similar_to_vector(
                self.song_vectors([song], index)[0], k=k, exclude={song_id}, index=index
            )
        return song, self._neighbours(hits, songs)

    def similar_to_vector(
        self,
        vector: np.ndarray,
        *,
        k: int,
        exclude: set[int] | None = None,
        index: VectorIndex | None = None,
    ) -> list[Neighbour]:
        """The ``k`` songs nearest to a unit vector, best first."""
        if index is None:
            index, _ = self.load_index()
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


def _same_vector(stored: np.ndarray | None, vector: np.ndarray) -> bool:
    return stored is not None and bool(np.array_equal(stored, vector))


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
