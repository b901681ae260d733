"""Two vector spaces, one index each: ``sound`` from the stored embeddings joined with the
features, ``features`` from the 57 values; the fallback while embeddings are missing; the old
single-space layout retired.

On SQLite and PostgreSQL. The embeddings are made up (the network itself is tested in
tests/indexer/audio/test_embedding.py) so that the two spaces disagree on purpose: song 0
sounds like song 3 and has the features of songs 1 and 2.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sqlalchemy import update

from db.models import Song
from indexer.errors import MissingVectorError, ParameterError
from indexer.library import Library
from indexer.model.spaces import FEATURES, SOUND, SOUND_DIM, sound_vectors
from indexer.vectors.index import VectorIndex
from indexer.vectors.store import MANIFEST_NAME, load_index, read_manifest, save_index
from tests.helpers import (
    SPACE_SONGS,
    gtzan_row,
    save_padded_sound_index,
    space_embeddings,
    space_records,
)


def write(library: Library, *, without: tuple[int, ...] = ()) -> list[int]:
    """The six songs of `SPACE_SONGS`; those at positions ``without`` have no embedding."""
    return library.write_songs(space_records(without=without))


def test_each_space_answers_from_its_own_vectors(library: Library) -> None:
    ids = write(library)
    manifests = library.sync_indexes()
    assert {space: m.count for space, m in manifests.items()} == {SOUND: 6, FEATURES: 6}
    assert manifests[SOUND].dim == SOUND_DIM == 457
    assert manifests[FEATURES].dim == library.scaler.dim == 57

    _, sound = library.similar_to_song(ids[0], k=5, space=SOUND)
    assert sound[0].song.id == ids[3]
    _, features = library.similar_to_song(ids[0], k=5, space=FEATURES)
    # The nearest by features is another blues song, never the metal song that sounds alike.
    assert features[0].song.id in {ids[1], ids[2]}
    assert [n.song.id for n in features].index(ids[3]) >= 2

    # The indexed sound vector is the recipe applied to the stored embedding and features.
    index, _ = library.load_index(space=SOUND)
    standardized = library.scaler.standardize(gtzan_row(SPACE_SONGS[0])[None, :])
    expected = sound_vectors(space_embeddings()[[0]], standardized=standardized)[0]
    np.testing.assert_allclose(index.reconstruct(ids[0]), expected, atol=1e-6)
    vectors = library.song_vectors([library.get_song(ids[0])], index, space=SOUND)
    np.testing.assert_allclose(vectors[0], expected, atol=1e-6)


def test_songs_without_a_current_embedding_are_absent_from_sound(
    library: Library,
) -> None:
    ids = write(library, without=(4,))
    # Song 4 was indexed before the network (no version: a record without a description is
    # otherwise stored as "too short for this recipe"); song 5 was described by an older
    # network. Neither embedding counts.
    with library.write_session() as session, session.begin():
        session.execute(update(Song).where(Song.id == ids[4]).values(embedding_version=None))
        session.execute(update(Song).where(Song.id == ids[5]).values(embedding_version="old"))
    library.sync_indexes()
    assert library.count_missing_embeddings() == 2
    sound, manifest = library.load_index(space=SOUND)
    assert sorted(sound.ids().tolist()) == sorted(ids[:4])
    assert manifest.missing == 2
    features, _ = library.load_index(space=FEATURES)
    assert sorted(features.ids().tolist()) == sorted(ids)

    # A query that does not ask answers from features while embeddings are missing.
    assert library.answering_space(None) == FEATURES
    assert library.answering_space(SOUND) == SOUND
    _, neighbours = library.similar_to_song(ids[0], k=10, space=SOUND)
    assert {n.song.id for n in neighbours} == set(ids[1:4])
    with pytest.raises(MissingVectorError):
        library.similar_to_song(ids[4], k=3, space=SOUND)

    # Once every song has one, the default space answers again.
    library.write_songs(space_records(only=(4, 5)))
    assert library.count_missing_embeddings() == 0
    assert library.answering_space(None) == SOUND
    assert library.sync_index(space=SOUND).count == 6

    # A song too short for the network is not awaited, but a query from it answers from features.
    library.write_songs(space_records(without=(0,), only=(0,)))
    assert library.count_missing_embeddings() == 0
    assert library.answering_space(None) == SOUND
    assert library.answering_space(None, seeds=[ids[0]]) == FEATURES
    assert library.answering_space(None, seeds=[ids[1]]) == SOUND


def test_an_unknown_space_is_refused(library: Library) -> None:
    with pytest.raises(ParameterError, match="unknown vector space"):
        library.answering_space("timbre")
    with pytest.raises(ParameterError, match="unknown vector space"):
        library.sync_index(space="timbre")


def test_each_space_is_rebuilt_in_its_own_folder(library: Library) -> None:
    write(library, without=(1,))
    manifests = library.rebuild_indexes(kind="hnsw")
    root = library.settings.index_dir
    for space, manifest in manifests.items():
        assert manifest.space == space
        assert manifest.kind == "hnsw"
        assert read_manifest(root / space) == manifest
    assert manifests[SOUND].count == 5
    assert manifests[FEATURES].count == 6
    assert not (root / MANIFEST_NAME).exists()


def test_an_index_of_the_single_space_layout_is_retired(
    library: Library,
) -> None:
    ids = write(library)
    root = library.settings.index_dir
    # What an older version left: a 19-d index of the LDA metric straight in the index dir.
    old = VectorIndex.build(
        np.asarray(ids, dtype=np.int64),
        np.eye(19, dtype=np.float32)[: len(ids)],
        kind="flat",
    )
    old_manifest = save_index(
        old, root, scaler_version="lda-of-old", model_version=None, synced_at=None
    )
    assert (root / old_manifest.index_file).exists()

    manifests = library.sync_indexes()

    assert not (root / MANIFEST_NAME).exists()
    assert not list(root.glob("vectors.*.faiss"))
    assert manifests[FEATURES].dim == 57
    assert manifests[FEATURES].count == manifests[SOUND].count == 6
    _, neighbours = library.similar_to_song(ids[0], k=1, space=SOUND)
    assert neighbours[0].song.id == ids[3]
    index, _ = load_index(root / FEATURES)
    assert sorted(index.ids().tolist()) == sorted(ids)


def test_auto_picks_each_spaces_own_approximate_kind(settings) -> None:
    # Above the threshold the sound space's long vectors are compressed (ivf-sq8) and the
    # features space keeps exact IVF lists.
    library = Library(dataclasses.replace(settings, index_threshold=6))
    try:
        write(library)
        library.sync_indexes()
        assert library.load_index(space=SOUND)[0].kind == "ivf-sq8"
        assert library.load_index(space=FEATURES)[0].kind == "ivf"
        assert {m.kind for m in library.rebuild_indexes().values()} == {"ivf-sq8", "ivf"}
    finally:
        library.engine.dispose()


@pytest.mark.parametrize("kind", ["flat", "ivf-sq8"])
@pytest.mark.parametrize("entry", ["sync", "load"])
def test_a_sound_index_of_464_d_padded_vectors_is_rebuilt_from_the_rows(
    library: Library, kind: str, entry: str
) -> None:
    ids = write(library)
    old = save_padded_sound_index(library, ids, kind=kind)
    assert (old.dim, old.kind) == (464, kind)

    if entry == "sync":
        manifest = library.sync_index(space=SOUND)
        index, _ = library.load_index(space=SOUND)
    else:
        index, manifest = library.load_index(space=SOUND)

    assert (manifest.dim, index.dim, manifest.count) == (SOUND_DIM, SOUND_DIM, 6)
    assert manifest.generation == old.generation + 1
    standardized = library.scaler.standardize(gtzan_row(SPACE_SONGS[0])[None, :])
    expected = sound_vectors(space_embeddings()[[0]], standardized=standardized)[0]
    np.testing.assert_allclose(index.reconstruct(ids[0]), expected, atol=1e-6)
    # A vector made today (an upload's) searches the rebuilt index.
    assert library.similar_to_vector(expected, k=1, space=SOUND)[0].song.id == ids[0]
    _, neighbours = library.similar_to_song(ids[0], k=1, space=SOUND)
    assert neighbours[0].song.id == ids[3]
