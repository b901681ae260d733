"""The write half of `indexer.library.Library`: songs added, updated, moved and removed.

Every write is one transaction on a writer session (`write_session`); the index follows at the
next `Library.sync_index`. Callers never import this module, they call these methods on a
`Library`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db import repo
from db.models import Song, features_to_bytes, floats_to_bytes
from db.session import writer
from indexer.audio.feature_columns import N_FEATURES
from indexer.errors import NotFoundError, StoreError

if TYPE_CHECKING:
    from indexer.audio.analyse import Refreshed, SongRecord, SoundRecord
    from indexer.model.genre import GenreModel, GenrePrediction


class LibraryWrites:
    """Writes of songs, each one transaction; `Library` inherits these."""

    engine: Engine
    genre_model: GenreModel

    def write_session(self) -> Session:
        """A new ORM session for writing: on SQLite it waits for other writers up front."""
        return Session(writer(self.engine), expire_on_commit=False)

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
        _set_file_facts(song, record)
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
                _set_file_facts(song, fresh)
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


def _set_file_facts(song: Song, facts: SongRecord | Refreshed) -> None:
    """What a row learns from its file whether or not it was analysed: state, tags, duration."""
    song.content_hash = facts.content_hash
    song.size_bytes = facts.size_bytes
    song.mtime_ns = facts.mtime_ns
    song.title = facts.title
    song.artist = facts.artist
    song.album = facts.album
    song.duration_s = facts.duration_s
