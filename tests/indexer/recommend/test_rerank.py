"""Re-ranking on plain candidates: filters, caps, near-duplicates, MMR and CSLS."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.recommend.duplicates import SongTraits, base_title, is_near_duplicate
from indexer.recommend.rerank import (
    Anchor,
    Candidate,
    RerankOptions,
    fetch_depth,
    rerank,
)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def cand(
    song_id: int,
    vector: np.ndarray,
    query: np.ndarray,
    *,
    artist: str | None = None,
    album: str | None = None,
    title: str | None = None,
    duration_s: float = 180.0,
    genre: str = "jazz",
    tempo_bpm: float = 120.0,
) -> Candidate:
    vector = _unit(vector)
    return Candidate(
        id=song_id,
        score=float(vector @ query),
        vector=vector,
        traits=SongTraits(title=title or f"song {song_id}", artist=artist, duration_s=duration_s),
        album=album,
        genre=genre,
        tempo_bpm=tempo_bpm,
    )


@pytest.fixture
def query() -> np.ndarray:
    return _unit(np.array([1.0, 0.0, 0.0]))


def test_no_options_keep_the_plain_order(query: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    pool = [cand(i, rng.normal(size=3), query) for i in range(30)]
    kept, dropped = rerank(pool, k=10, options=RerankOptions())
    expected = sorted(pool, key=lambda c: -c.score)[:10]
    assert [c.id for c in kept] == [c.id for c in expected]
    assert dropped == []
    assert not RerankOptions().active
    assert fetch_depth(10, RerankOptions(), available=1000) == 10


def test_mmr_with_lambda_one_equals_plain_ranking(query: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    pool = [cand(i, rng.normal(size=3), query) for i in range(40)]
    plain, _ = rerank(pool, k=15, options=RerankOptions())
    mmr, _ = rerank(pool, k=15, options=RerankOptions(mmr_lambda=1.0, dedupe=False))
    assert [c.id for c in mmr] == [c.id for c in plain]


def test_mmr_below_one_prefers_a_different_song(query: np.ndarray) -> None:
    twins = [cand(1, np.array([1, 0.30, 0]), query), cand(2, np.array([1, 0.31, 0]), query)]
    other = cand(3, np.array([1, 0, 0.45]), query)
    assert [c.id for c in rerank([*twins, other], k=2, options=RerankOptions())[0]] == [1, 2]
    diverse, _ = rerank([*twins, other], k=2, options=RerankOptions(mmr_lambda=0.5))
    assert [c.id for c in diverse] == [1, 3]


def test_artist_cap_of_one_keeps_one_song_per_artist(query: np.ndarray) -> None:
    pool = [
        cand(1, np.array([1, 0.1, 0]), query, artist="Bill Evans"),
        cand(2, np.array([1, 0.2, 0]), query, artist="bill evans "),
        cand(3, np.array([1, 0.3, 0]), query, artist="Miles Davis"),
        cand(4, np.array([1, 0.4, 0]), query, artist=None),
        cand(5, np.array([1, 0.5, 0]), query, artist=None),
    ]
    kept, dropped = rerank(pool, k=5, options=RerankOptions(max_per_artist=1))
    assert [c.id for c in kept] == [1, 3, 4, 5]  # unknown artists are not one artist
    assert [(d.id, d.reason) for d in dropped] == [(2, "artist_cap")]


def test_album_cap(query: np.ndarray) -> None:
    pool = [
        cand(i, np.array([1, 0.1 * i, 0]), query, artist="A", album="X" if i < 4 else "Y")
        for i in range(1, 6)
    ]
    kept, dropped = rerank(pool, k=5, options=RerankOptions(max_per_album=2))
    assert [c.id for c in kept] == [1, 2, 4, 5]
    assert [d.reason for d in dropped] == ["album_cap"]


def test_a_near_duplicate_pair_is_suppressed(query: np.ndarray) -> None:
    pool = [
        cand(1, np.array([1, 0.2, 0]), query, duration_s=200.0),
        cand(2, np.array([1, 0.2, 0.0001]), query, duration_s=201.5),  # same audio, re-ripped
        cand(3, np.array([1, 0.2, 0.0001]), query, duration_s=260.0),  # same sound, longer
        cand(4, np.array([1, 0.5, 0]), query),
    ]
    assert [c.id for c in rerank(pool, k=3, options=RerankOptions())[0]] == [1, 2, 3]
    kept, dropped = rerank(pool, k=3, options=RerankOptions(dedupe=True))
    assert [c.id for c in kept] == [1, 3, 4]
    assert dropped[0].id == 2
    assert dropped[0].reason == "duplicate"
    assert "song 1" in dropped[0].detail


def test_duplicates_of_the_query_and_live_versions_are_suppressed(query: np.ndarray) -> None:
    anchor = Anchor(7, query, SongTraits(title="Blue in Green", artist="Bill Evans", duration_s=5))
    pool = [
        cand(1, np.array([1, 0, 0]), query, duration_s=5.5),
        cand(2, np.array([1, 0.5, 0]), query, artist="Bill Evans", title="Blue in Green (Live)"),
        cand(3, np.array([1, 0.6, 0]), query, artist="Other", title="Blue in Green"),
    ]
    kept, dropped = rerank(pool, k=3, options=RerankOptions(dedupe=True), anchors=[anchor])
    assert [c.id for c in kept] == [3]
    assert {d.id: d.detail.split(" (")[1] for d in dropped} == {
        1: "same_audio, cosine 1.000000)",
        2: "same_title, cosine 0.894427)",
    }


def test_filters_drop_with_their_reasons(query: np.ndarray) -> None:
    pool = [
        cand(1, np.array([1, 0.1, 0]), query, genre="rock"),
        cand(2, np.array([1, 0.2, 0]), query, tempo_bpm=60.0),
        cand(3, np.array([1, 0.3, 0]), query, duration_s=30.0),
        cand(4, np.array([1, 0.4, 0]), query),
        cand(5, np.array([1, 0.5, 0]), query),
    ]
    options = RerankOptions(
        genre="jazz",
        tempo_min_bpm=100,
        tempo_max_bpm=140,
        duration_min_s=60,
        exclude=frozenset({4}),
    )
    kept, dropped = rerank(pool, k=5, options=options)
    assert [c.id for c in kept] == [5]
    assert [(d.id, d.reason) for d in dropped] == [
        (1, "genre"),
        (2, "tempo"),
        (3, "duration"),
        (4, "excluded"),
    ]
    assert fetch_depth(10, options, available=1000) == 200


def test_empty_range_selects_nothing(query: np.ndarray) -> None:
    pool = [cand(1, np.array([1, 0.1, 0]), query)]
    kept, _ = rerank(pool, k=5, options=RerankOptions(tempo_min_bpm=150, tempo_max_bpm=100))
    assert kept == []


def test_csls_demotes_a_hub(query: np.ndarray) -> None:
    pool = [cand(1, np.array([1, 0.30, 0]), query), cand(2, np.array([1, 0.35, 0]), query)]
    hub = {1: 0.99, 2: 0.80}  # song 1 is near everything
    assert [c.id for c in rerank(pool, k=2, options=RerankOptions(), hub=hub)[0]] == [1, 2]
    kept, _ = rerank(pool, k=2, options=RerankOptions(hubness=True), hub=hub)
    assert [c.id for c in kept] == [2, 1]


def test_songs_chosen_earlier_count_towards_caps(query: np.ndarray) -> None:
    earlier = cand(9, np.array([1, 0.9, 0]), query, artist="A")
    pool = [
        cand(1, np.array([1, 0.1, 0]), query, artist="A"),
        cand(2, np.array([1, 0.2, 0]), query),
    ]
    kept, _ = rerank(pool, k=2, options=RerankOptions(max_per_artist=1), chosen=[earlier])
    assert [c.id for c in kept] == [2]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Hey Jude", "hey jude"),
        ("Hey Jude (Live at Wembley)", "hey jude"),
        ("Hey Jude [2011 Remaster] (Live)", "hey jude"),
        ("Hey Jude - Remastered 2009", "hey jude"),
        ("Hey  Jude - Radio Edit", "hey jude"),
        ("Hey Jude (Demo)", "hey jude"),
        ("Remix to Ignition", "remix to ignition"),
        ("Song (feat. Someone)", "song (feat. someone)"),
        ("Re-Make - Re-Model", "re-make - re-model"),
    ],
)
def test_base_title(title: str, expected: str) -> None:
    assert base_title(title) == expected


def test_untagged_songs_with_one_title_are_not_duplicates() -> None:
    a = SongTraits(title="Track 01", artist=None, duration_s=100)
    b = SongTraits(title="Track 01", artist=None, duration_s=300)
    assert is_near_duplicate(a, b, cosine=0.5) is None
