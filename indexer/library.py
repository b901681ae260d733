"""A library on disk: the database, the scaler, the genre model and the vector indexes together.

The CLI and the service both go through this class, so a song is added, removed, indexed and
queried the same way whichever door it came in by. The database is the source of truth;
:meth:`Library.sync_index` brings each space's FAISS index (`indexer.model.spaces`) in line
with it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from db import repo
from db.models import Song, features_to_bytes, floats_to_bytes
from db.repo import SongRow
from db.session import open_database, writer
from indexer.audio.embedding import EMBEDDING_VERSION, STORED_DIM
from indexer.audio.feature_columns import N_FEATURES
from indexer.errors import MissingVectorError, NotFoundError, ParameterError, StoreError
from indexer.library_reads import LibraryReads
from indexer.model.scaler import Scaler, ensure_scaler
from indexer.model.spaces import DEFAULT_SPACE, FEATURES, SOUND, SOUND_DIM, SPACES, sound_vectors
from indexer.settings import Settings
from indexer.vectors.index import VectorIndex
from indexer.vectors.kinds import (
    HNSW_MAX_MASKED_FRACTION,
    needs_rebuild,
    resolve_kind,
    target_kind,
)
from indexer.vectors.store import (
    Manifest,
    load_index,
    read_manifest,
    retire_single_space_layout,
    save_index,
    space_dir,
    write_lock,
)

if TYPE_CHECKING:
    from indexer.audio.analyse import Refreshed, SongRecord, SoundRecord
    from indexer.model.genre import GenreModel, GenrePrediction
    from indexer.model.genre_training import FitProgress

log = logging.getLogger(__name__)

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
        """Raw features [shape=(n, 57)] to unit vectors of the ``features`` space."""
        return self.scaler.transform(np.atleast_2d(raw))

    def space_dim(self, space: str) -> int:
        """The dimension of a space's vectors."""
        return SOUND_DIM if _checked(space) == SOUND else self.scaler.dim

    def space_version(self, space: str) -> str:
        """What the vectors of a space are made by; a change rebuilds that space's index."""
        if _checked(space) == SOUND:
            return f"{sound_space_version()}-{self.scaler.version}"
        return self.scaler.version

    def song_vectors(
        self,
        songs: Sequence[Song | SongRow],
        index: VectorIndex,
        *,
        space: str = DEFAULT_SPACE,
    ) -> np.ndarray:
        """The songs' unit vectors in ``space`` [shape=(n, d)]: from ``index``, else computed.

        The indexed vector is what neighbours were compared with, so it is preferred; a song not
        yet in this index (or an index kind that cannot give vectors back) gets the vector the
        next sync will store. A song with no vector in the space (in ``sound``: no current
        embedding) raises `MissingVectorError`; `has_vector` tells beforehand.
        """
        found = [index.reconstruct(song.id) for song in songs]
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            fresh = self._fresh_vectors([songs[i] for i in missing], space)
            for i, vector in zip(missing, fresh, strict=True):
                found[i] = vector
        if not found:
            return np.zeros((0, self.space_dim(space)), dtype=np.float32)
        return np.vstack([np.asarray(vector, dtype=np.float32) for vector in found])

    def has_vector(self, song: Song, space: str) -> bool:
        """Whether the song has a vector in ``space`` (every song has one in ``features``)."""
        if _checked(space) == FEATURES:
            return True
        return song.embedding is not None and song.embedding_version == EMBEDDING_VERSION

    def _fresh_vectors(self, songs: Sequence[Song | SongRow], space: str) -> np.ndarray:
        if _checked(space) == FEATURES:
            return self.vectors(np.vstack([song.feature_vector for song in songs]))
        full = [s if isinstance(s, Song) else self.get_song(s.id) for s in songs]
        lacking = [s.id for s in full if not self.has_vector(s, SOUND)]
        if lacking:
            raise MissingVectorError(
                f"song {lacking[0]} has no vector in the sound space yet: its embedding is "
                f"missing or not of version {EMBEDDING_VERSION}"
            )
        raw = np.vstack([s.feature_vector for s in full])
        embeddings = np.vstack([s.embedding_vector for s in full])
        return sound_vectors(embeddings, standardized=self.scaler.standardize(raw))

    def answering_space(
        self,
        space: str | None,
        *,
        seeds: Sequence[int] = (),
        missing: int | None = None,
        sound_songs: int | None = None,
    ) -> str:
        """The space a query answers from: ``space`` when it asks for one, else the default.

        A query that did not ask for a space answers from ``features``, where every song is,
        when the ``sound`` space cannot serve it: songs still await the network (``missing``,
        else counted now; `soundalike backfill`), no song has a sound vector at all
        (``sound_songs``, else counted now), or one of the query's ``seeds`` has none (a clip
        shorter than one of the network's 3-s patches). A query that asks for ``sound`` searches
        it, and songs without a vector are simply absent.
        """
        return self.space_choice(space, seeds=seeds, missing=missing, sound_songs=sound_songs)[0]

    def space_choice(
        self,
        space: str | None,
        *,
        seeds: Sequence[int] = (),
        missing: int | None = None,
        sound_songs: int | None = None,
    ) -> tuple[str, str | None]:
        """`answering_space` and, when it fell back to ``features``, a sentence saying why."""
        if space is not None:
            return _checked(space), None
        if DEFAULT_SPACE != SOUND:
            return DEFAULT_SPACE, None
        if missing is None:
            missing = self.count_missing_embeddings()
        if missing > 0:
            return FEATURES, (
                f"{missing} song(s) have no {SOUND} embedding yet (soundalike backfill computes "
                f"them); answering from {FEATURES}, where every song is (ask for space={SOUND} "
                f"to search the songs that have one)"
            )
        with self._session() as session:
            if sound_songs is None:
                sound_songs = repo.count_embedded(session, EMBEDDING_VERSION)
            if sound_songs == 0:
                return FEATURES, (
                    f"no song has a {SOUND} vector (every clip is shorter than the network's "
                    f"3-s patch); answering from {FEATURES}"
                )
            lacking = repo.ids_without_sound(session, list(seeds), EMBEDDING_VERSION)
        if lacking:
            return FEATURES, (
                f"song {lacking[0]} is too short for the {SOUND} network (under 3 s); "
                f"answering from {FEATURES}"
            )
        return SOUND, None

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

    # --- the indexes, one per space ------------------------------------------------------

    def index_dir(self, space: str) -> Path:
        """The folder of one space's index (the old single-space layout retired first)."""
        if retire_single_space_layout(self.settings.index_dir):
            log.info("retired the single-space index in %s", self.settings.index_dir)
        return space_dir(self.settings.index_dir, space)

    def _read_manifest(self, space: str) -> Manifest | None:
        try:
            return read_manifest(self.index_dir(space))
        except StoreError:
            return None

    def sync_indexes(self) -> dict[str, Manifest]:
        """`sync_index` for every space, default space first."""
        order = (DEFAULT_SPACE, *(s for s in SPACES if s != DEFAULT_SPACE))
        return {space: self.sync_index(space=space) for space in order}

    def sync_index(self, *, space: str = DEFAULT_SPACE) -> Manifest:
        """Bring one space's saved index in line with the database; save a generation if changed.

        Adds rows the index lacks, drops ids the database no longer has (or, in ``sound``, that
        lost their current embedding) and re-adds rows changed since the last sync; a change of
        the space's vectors (scaler, or sound recipe) rebuilds from scratch, and so does a
        change of index kind (the library crossed the size threshold, or the configured kind
        changed). An HNSW graph with too many masked (removed) nodes is compacted. Safe to run
        after a crash: whatever the database holds ends up in the index exactly once. When
        nothing changed, the current generation stays, so running services do not reload.
        """
        folder = self.index_dir(space)
        with write_lock(folder):
            index, manifest = self._load_for_sync(space)
            with self._session() as session:
                space_ids = self._space_ids(session, space)
                synced_at = session.scalar(select(func.max(Song.updated_at)))
                missing = self._missing(session, space)
                kind = target_kind(
                    self.settings.index_kind,
                    manifest.kind if manifest else None,
                    len(space_ids),
                    threshold=self.settings.index_threshold,
                )
                if kind != index.kind or needs_rebuild(kind, index.params, len(space_ids)):
                    built = self._build_from_rows(session, kind, space)
                    return self._save(built, synced_at, space, missing=missing)
                recent: set[int] = set()
                if manifest is not None and manifest.synced_at:
                    since = datetime.fromisoformat(manifest.synced_at) - SYNC_SLACK
                    recent = set(
                        session.scalars(select(Song.id).where(Song.updated_at >= since)).all()
                    )
                index_ids = index.ids()
                changed = index.remove(np.setdiff1d(index_ids, space_ids)) > 0
                wanted = set(np.setdiff1d(space_ids, index_ids).tolist()) | recent
                for ids, vectors in self._iter_space_vectors(session, space, wanted):
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
                and manifest.model_version == self.genre_model.version
                and manifest.missing == missing
            ):
                return manifest
            return self._save(index, synced_at, space, missing=missing)

    def rebuild_indexes(self, *, kind: str | None = None) -> dict[str, Manifest]:
        """`rebuild_index` for every space."""
        return {space: self.rebuild_index(kind=kind, space=space) for space in SPACES}

    def rebuild_index(self, *, kind: str | None = None, space: str = DEFAULT_SPACE) -> Manifest:
        """Recreate one space's index from every row, ignoring whatever is on disk.

        ``kind`` overrides the configured kind for this rebuild (``auto`` picks by size).
        """
        with write_lock(self.index_dir(space)), self._session() as session:
            synced_at = session.scalar(select(func.max(Song.updated_at)))
            n = len(self._space_ids(session, space))
            resolved = resolve_kind(
                kind or self.settings.index_kind, n, threshold=self.settings.index_threshold
            )
            built = self._build_from_rows(session, resolved, space)
            return self._save(built, synced_at, space, missing=self._missing(session, space))

    def _space_ids(self, session: Session, space: str) -> np.ndarray:
        """Ids of the songs that have a vector in ``space``, sorted."""
        if _checked(space) == SOUND:
            return repo.embedded_ids(session, EMBEDDING_VERSION)
        return repo.all_ids(session)

    def _missing(self, session: Session, space: str) -> int:
        if _checked(space) == SOUND:
            return repo.count_lacking_sound(session, EMBEDDING_VERSION)
        return 0

    def _iter_space_vectors(
        self, session: Session, space: str, ids: Iterable[int] | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids, unit vectors)`` in batches, of the songs that have a vector in ``space``."""
        if _checked(space) == SOUND:
            for chunk_ids, embeddings in repo.iter_embeddings(session, EMBEDDING_VERSION, ids):
                raw = np.vstack([r for _, r in repo.iter_features(session, chunk_ids)])
                yield (
                    chunk_ids,
                    sound_vectors(embeddings, standardized=self.scaler.standardize(raw)),
                )
        else:
            for chunk_ids, raw in repo.iter_features(session, ids):
                yield chunk_ids, self.vectors(raw)

    def _build_from_rows(self, session: Session, kind: str, space: str) -> VectorIndex:
        id_parts: list[np.ndarray] = [np.zeros(0, np.int64)]
        vector_parts: list[np.ndarray] = [np.zeros((0, self.space_dim(space)), np.float32)]
        for ids, vectors in self._iter_space_vectors(session, space):
            id_parts.append(ids)
            vector_parts.append(vectors.astype(np.float32))
        return VectorIndex.build(np.concatenate(id_parts), np.vstack(vector_parts), kind=kind)

    def _save(
        self, index: VectorIndex, synced_at: datetime | None, space: str, *, missing: int
    ) -> Manifest:
        return save_index(
            index,
            self.index_dir(space),
            scaler_version=self.space_version(space),
            model_version=self.genre_model.version,
            synced_at=_iso(synced_at),
            space=space,
            missing=missing,
        )

    def _load_for_sync(self, space: str) -> tuple[VectorIndex, Manifest | None]:
        folder = self.index_dir(space)
        try:
            manifest = read_manifest(folder)
            if manifest is None or manifest.scaler_version != self.space_version(space):
                return VectorIndex.empty(self.space_dim(space)), None
            return load_index(folder)
        except StoreError:
            # A damaged index is only derived data: start over from the rows.
            return VectorIndex.empty(self.space_dim(space)), None

    def load_index(self, *, space: str = DEFAULT_SPACE) -> tuple[VectorIndex, Manifest]:
        """One space's saved index for queries, synced from the database first if missing."""
        folder = self.index_dir(space)
        try:
            return load_index(folder)
        except StoreError:
            self.sync_index(space=space)
            return load_index(folder)

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


def _checked(space: str) -> str:
    if space not in SPACES:
        raise ParameterError(f"unknown vector space {space!r}; choose from {', '.join(SPACES)}")
    return space


@cache
def sound_space_version() -> str:
    """A fingerprint of the sound space's vectors: the network's version and the recipe.

    The recipe (`indexer.model.spaces.sound_vectors`) is fingerprinted by its output on fixed
    inputs, rounded so that BLAS differences between machines do not count: a new recipe
    rebuilds the sound index, as a new scaler rebuilds the features index.
    """
    probe = np.random.default_rng(0).random((4, SOUND_DIM), dtype=np.float32)
    probe[1, : STORED_DIM // 2] = 0.0
    digest = hashlib.sha256(EMBEDDING_VERSION.encode())
    vectors = sound_vectors(probe[:, :STORED_DIM], standardized=probe[:, STORED_DIM:])
    digest.update(np.round(vectors, 4).astype("<f4").tobytes())
    return digest.hexdigest()[:12]


def _same_vector(stored: np.ndarray | None, vector: np.ndarray) -> bool:
    return stored is not None and bool(np.array_equal(stored, vector))


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
