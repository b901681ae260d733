"""The index part of `indexer.library.Library`: one FAISS index per vector space, kept in line.

The database is the source of truth and each index is derived from it: `sync_index` brings a
space's saved index in line with the rows, `rebuild_index` recreates it, `load_index` gives it
to queries. Callers never import this module, they call these methods on a `Library`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import repo
from db.models import Song
from indexer.audio.embedding import EMBEDDING_VERSION
from indexer.errors import StoreError
from indexer.library_spaces import LibrarySpaces, checked_space
from indexer.model.spaces import DEFAULT_SPACE, SOUND, SPACES, row_vectors
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
    from indexer.model.genre import GenreModel

log = logging.getLogger(__name__)

# Rows changed this long before the last sync are re-checked anyway: clocks of writers differ.
SYNC_SLACK = timedelta(seconds=5)


class LibraryIndexes(LibrarySpaces):
    """Sync, rebuild and load each space's index; `Library` inherits these."""

    settings: Settings
    genre_model: GenreModel

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
        changed, or an ``ivf-sq8`` index lacks the padding its kind now adds). An HNSW graph with
        too many masked (removed) nodes is compacted. Safe to run
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
                    space=space,
                )
                if (
                    kind != index.kind
                    or needs_rebuild(kind, index.params, len(space_ids))
                    or not index.padded_for_kind
                ):
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
                        if not index.holds(int(song_id), vector)
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
                kind or self.settings.index_kind,
                n,
                threshold=self.settings.index_threshold,
                space=space,
            )
            built = self._build_from_rows(session, resolved, space)
            return self._save(built, synced_at, space, missing=self._missing(session, space))

    def _space_ids(self, session: Session, space: str) -> np.ndarray:
        """Ids of the songs that have a vector in ``space``, sorted."""
        if checked_space(space) == SOUND:
            return repo.embedded_ids(session, EMBEDDING_VERSION)
        return repo.all_ids(session)

    def _missing(self, session: Session, space: str) -> int:
        if checked_space(space) == SOUND:
            return repo.count_lacking_sound(session, EMBEDDING_VERSION)
        return 0

    def _iter_space_vectors(
        self, session: Session, space: str, ids: Iterable[int] | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids, unit vectors)`` in batches, of the songs that have a vector in ``space``."""
        if checked_space(space) == SOUND:
            for chunk_ids, embeddings in repo.iter_embeddings(session, EMBEDDING_VERSION, ids):
                raw = np.vstack([r for _, r in repo.iter_features(session, chunk_ids)])
                yield (
                    chunk_ids,
                    row_vectors(SOUND, raw, scaler=self.scaler, embeddings=embeddings),
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

    def index_is_current(self, manifest: Manifest, space: str) -> bool:
        """Whether a saved index of ``space`` holds the vectors this code makes: the same
        recipe and scaler (its version) and the same dimension. A sound index saved when the
        sound vector carried its own zero padding (464-d) is not; a sync rebuilds it."""
        current = (self.space_version(space), self.space_dim(space))
        return (manifest.scaler_version, manifest.dim) == current

    def _load_for_sync(self, space: str) -> tuple[VectorIndex, Manifest | None]:
        folder = self.index_dir(space)
        try:
            manifest = read_manifest(folder)
            if manifest is None or not self.index_is_current(manifest, space):
                return VectorIndex.empty(self.space_dim(space)), None
            return load_index(folder)
        except StoreError:
            # A damaged index is only derived data: start over from the rows.
            return VectorIndex.empty(self.space_dim(space)), None

    def load_index(self, *, space: str = DEFAULT_SPACE) -> tuple[VectorIndex, Manifest]:
        """One space's saved index for queries, synced from the database first if missing or
        not current (`index_is_current`): a query never meets vectors of another recipe."""
        folder = self.index_dir(space)
        try:
            index, manifest = load_index(folder)
            if self.index_is_current(manifest, space):
                return index, manifest
        except StoreError:
            pass  # missing or damaged: derived data, made again from the rows below
        self.sync_index(space=space)
        return load_index(folder)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
