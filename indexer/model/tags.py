"""A song's tags: the two musicnn networks' 100 tag probabilities read as one vocabulary.

A stored tag vector holds MSD_musicnn's 50 tag probabilities then MTT_musicnn's 50
(`indexer.audio.embedding.all_tag_names`). Eight names occur in both vocabularies (rock, pop,
electronic, dance, metal, ambient, country, guitar); each is merged into one tag whose
probability is the **larger** of the two: the networks were trained on different collections
(Last.fm tags of the Million Song Dataset, MagnaTagATune's crowd-sourced tags), so either one
recognising the tag is evidence, and a mean would halve a tag one network never learnt to see
in that kind of music. Names are lower-cased (MSD writes ``Mellow``, ``Hip-Hop``), which gives
92 tags.

A song **carries** a tag when its merged probability is at least `TAG_THRESHOLD`; its **top
tags** are the `TOP_TAGS` most probable tags it carries. The ``tag=`` filter keeps neighbours
that carry every tag asked for, and ``GET /api/tags`` counts the songs that carry each tag, so
what the filter does is what the counts say.

`TAG_KINDS` sorts the vocabulary into genre, mood, era, instrument, voice, tempo and other. It is
written by hand from the tag names: documentation of what the networks were taught to hear,
not something they predict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.errors import ParameterError

# The networks' tag names, read from the file `indexer.audio.embedding` reads them from, but
# not through that module: it loads soxr and onnxruntime, which the query path and the
# commands' help never need. tests/indexer/model/test_tags.py checks both agree.
_TAG_FILE = Path(__file__).resolve().parent.parent / "audio" / "musicnn" / "tags.json"
_STORED_NAMES: dict[str, tuple[str, ...]] = {
    model: tuple(names) for model, names in json.loads(_TAG_FILE.read_text("utf-8")).items()
}
MODELS = tuple(_STORED_NAMES)
STORED_TAGS = sum(len(names) for names in _STORED_NAMES.values())

TAG_THRESHOLD = 0.2
"""Merged probability at or above which a song carries a tag. On the real clips of ``tests/data``
it keeps two to six tags per clip: the GTZAN blues excerpts carry blues and guitar (with male
voice tags where a man sings), the classical excerpts classical, violin, strings and
instrumental, the trumpet solo jazz, guitar and country (neither vocabulary has a trumpet).
At 0.1 the blues and classical excerpts carry eight or more, country and soul for blues and
jazz for classical among them."""

TOP_TAGS = 5
"""How many of the tags a song carries its answers show, most probable first."""

PROFILE_SEEDS = 5
"""How many best-matching songs a tag profile starts a neighbour query from."""

KINDS = ("genre", "mood", "era", "instrument", "voice", "tempo", "other")

TAG_KINDS: dict[str, str] = {
    # MSD_musicnn (Last.fm tags of the Million Song Dataset)
    "rock": "genre",
    "pop": "genre",
    "alternative": "genre",
    "indie": "genre",
    "electronic": "genre",
    "female vocalists": "voice",
    "dance": "genre",
    "00s": "era",
    "alternative rock": "genre",
    "jazz": "genre",
    "beautiful": "mood",
    "metal": "genre",
    "chillout": "mood",
    "male vocalists": "voice",
    "classic rock": "genre",
    "soul": "genre",
    "indie rock": "genre",
    "mellow": "mood",
    "electronica": "genre",
    "80s": "era",
    "folk": "genre",
    "90s": "era",
    "chill": "mood",
    "instrumental": "voice",
    "punk": "genre",
    "oldies": "era",
    "blues": "genre",
    "hard rock": "genre",
    "ambient": "genre",
    "acoustic": "instrument",
    "experimental": "genre",
    "female vocalist": "voice",
    "guitar": "instrument",
    "hip-hop": "genre",
    "70s": "era",
    "party": "mood",
    "country": "genre",
    "easy listening": "genre",
    "sexy": "mood",
    "catchy": "mood",
    "funk": "genre",
    "electro": "genre",
    "heavy metal": "genre",
    "progressive rock": "genre",
    "60s": "era",
    "rnb": "genre",
    "indie pop": "genre",
    "sad": "mood",
    "house": "genre",
    "happy": "mood",
    # MTT_musicnn (MagnaTagATune) names not already above
    "classical": "genre",
    "slow": "tempo",
    "techno": "genre",
    "strings": "instrument",
    "drums": "instrument",
    "fast": "tempo",
    "piano": "instrument",
    "beat": "other",
    "violin": "instrument",
    "vocal": "voice",
    "synth": "instrument",
    "female": "voice",
    "indian": "genre",
    "opera": "genre",
    "male": "voice",
    "singing": "voice",
    "vocals": "voice",
    "no vocals": "voice",
    "harpsichord": "instrument",
    "loud": "mood",
    "quiet": "mood",
    "flute": "instrument",
    "woman": "voice",
    "male vocal": "voice",
    "no vocal": "voice",
    "soft": "mood",
    "sitar": "instrument",
    "solo": "other",
    "man": "voice",
    "classic": "genre",
    "choir": "voice",
    "voice": "voice",
    "new age": "genre",
    "male voice": "voice",
    "female vocal": "voice",
    "beats": "other",
    "harp": "instrument",
    "cello": "instrument",
    "no voice": "voice",
    "weird": "mood",
    "female voice": "voice",
    "choral": "voice",
}


def _vocabulary() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """The merged names and, per name, the stored columns whose maximum it takes."""
    stored = [name.lower() for names in _STORED_NAMES.values() for name in names]
    names = tuple(dict.fromkeys(stored))
    columns: dict[str, list[int]] = {name: [] for name in names}
    for column, name in enumerate(stored):
        columns[name].append(column)
    first = np.array([columns[n][0] for n in names], dtype=np.intp)
    last = np.array([columns[n][-1] for n in names], dtype=np.intp)
    return names, first, last


TAG_VOCABULARY, _FIRST, _LAST = _vocabulary()
"""The 92 merged tag names: MSD's order, then MTT's names MSD does not have."""

assert set(TAG_KINDS) == set(TAG_VOCABULARY), "every tag needs exactly one kind"
assert set(TAG_KINDS.values()) <= set(KINDS)


@dataclass(frozen=True)
class TagScore:
    """One tag of a song and its merged probability."""

    tag: str
    probability: float


def tag_models(tag: str) -> tuple[str, ...]:
    """The networks whose vocabulary has ``tag`` (one or both of ``MODELS``)."""
    return tuple(m for m in MODELS if tag in {n.lower() for n in _STORED_NAMES[m]})


def merge_tag_probabilities(vectors: np.ndarray) -> np.ndarray:
    """Merged probabilities in `TAG_VOCABULARY` order: the larger of a shared name's two.

    Parameters
    ----------
    vectors : np.ndarray [shape=(100,) or (n, 100)]
        Stored tag vectors.

    Returns
    -------
    np.ndarray [shape=(92,) or (n, 92), dtype=float32]
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape[-1] != STORED_TAGS:
        raise ParameterError(f"a tag vector has {STORED_TAGS} values, not {vectors.shape[-1]}")
    return np.maximum(vectors[..., _FIRST], vectors[..., _LAST])


def top_tags(
    vector: np.ndarray | None, *, n: int = TOP_TAGS, threshold: float = TAG_THRESHOLD
) -> list[TagScore]:
    """The ``n`` most probable tags a song carries, best first; none without a tag vector."""
    if vector is None:
        return []
    merged = merge_tag_probabilities(vector)
    order = np.argsort(-merged, kind="stable")[:n]
    return [
        TagScore(TAG_VOCABULARY[i], round(float(merged[i]), 4))
        for i in order
        if merged[i] >= threshold
    ]


def carried_tags(vector: np.ndarray | None, *, threshold: float = TAG_THRESHOLD) -> frozenset[str]:
    """Every tag a song carries (merged probability at least ``threshold``)."""
    if vector is None:
        return frozenset()
    merged = merge_tag_probabilities(vector)
    return frozenset(TAG_VOCABULARY[i] for i in np.flatnonzero(merged >= threshold))


def shared_top_tags(a: np.ndarray | None, b: np.ndarray | None) -> list[str]:
    """The top tags two songs have in common, in the order of the first song's."""
    theirs = {t.tag for t in top_tags(b)}
    return [t.tag for t in top_tags(a) if t.tag in theirs]


def normalize_tag(name: str) -> str:
    """A tag as the vocabulary spells it (case and surrounding spaces ignored).

    Raises ``ParameterError`` for a name the networks do not know.
    """
    tag = " ".join(name.split()).lower()
    if tag not in TAG_KINDS:
        raise ParameterError(f"unknown tag {name!r}")
    return tag


def normalize_tags(names: Iterable[str]) -> tuple[str, ...]:
    """Several tags as the vocabulary spells them, each once, in the order given."""
    return tuple(dict.fromkeys(normalize_tag(n) for n in names))


def split_tags(values: Iterable[str]) -> list[str]:
    """Tag names from repeated values that may also be comma-separated (``chill,electronic``)."""
    return [part for value in values for part in value.split(",") if part.strip()]


def profile_scores(vectors: np.ndarray, tags: Sequence[str]) -> np.ndarray:
    """How well each song matches a tag profile: the geometric mean of its tags' probabilities.

    A geometric mean rewards songs that have every tag asked for: a song very ``chill`` but
    not ``electronic`` ranks below one that is fairly both.

    Parameters
    ----------
    vectors : np.ndarray [shape=(n, 100)]
        Stored tag vectors.
    tags : sequence of str
        Names from `TAG_VOCABULARY`.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    columns = [TAG_VOCABULARY.index(t) for t in tags]
    if not columns:
        raise ParameterError("a tag profile needs at least one tag")
    merged = merge_tag_probabilities(np.atleast_2d(vectors))[:, columns].astype(np.float64)
    return np.exp(np.log(np.clip(merged, 1e-12, 1.0)).mean(axis=1))
