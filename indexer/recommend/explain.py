"""Why two songs are near: their cosine split exactly over five groups of features.

The metric is not linear in the features (log, LDA posteriors through a softmax, square roots,
normalization), so a cosine has no natural per-feature terms. We use Shapley values over five
feature groups, the one split that is exact (the parts add up to the cosine), symmetric (two
groups that matter equally get equal parts) and gives nothing to a group that changes nothing.

The game: for a set S of groups, ``v(S)`` is the cosine of the two songs when only the groups in
S are known, every other feature set to the average song of the table the scaler was fitted on
(0 after standardizing), and ``v({}) = 0`` since nothing is known. Then the parts sum to
``v(all groups)``, which is the songs' cosine. It costs 31 transforms per song (32 subsets,
minus the empty one), done as one matrix product for a whole list of neighbours.

What the network hears is told in words: the top tags the two songs share (`shared_tags`, from
`indexer.model.tags`), which lead the summary ("both tagged rock, guitar; similar timbre ...").
A neighbour found in the sound space is near because the network's penultimate layers are, and
its tag outputs are read off that same layer, so shared tags are that space's explanation; the
Shapley parts still say which of the 57 features agree. Songs whose tags are not computed yet
share none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from math import factorial

import numpy as np

from indexer.audio.feature_columns import FEATURE_NAMES, N_MFCC
from indexer.model.scaler import Scaler
from indexer.model.tags import shared_top_tags

GROUPS: dict[str, tuple[str, ...]] = {
    "timbre": tuple(f"mfcc{i}_{s}" for i in range(1, N_MFCC + 1) for s in ("mean", "var")),
    "spectral_shape": tuple(
        f"{name}_{s}"
        for name in ("spectral_centroid", "spectral_bandwidth", "rolloff", "zero_crossing_rate")
        for s in ("mean", "var")
    ),
    "rhythm": ("tempo", "perceptr_mean", "perceptr_var"),
    "harmony": ("chroma_stft_mean", "chroma_stft_var", "harmony_mean", "harmony_var"),
    "loudness": ("rms_mean", "rms_var"),
}
_WORDS = {
    "timbre": "timbre",
    "spectral_shape": "brightness",
    "rhythm": "rhythm",
    "harmony": "harmony",
    "loudness": "loudness",
}
# Tempos within 4% of each other are heard as one tempo (about one beat tracker lag step).
SAME_TEMPO = 0.04
_TEMPO = FEATURE_NAMES.index("tempo")

_NAMES = tuple(GROUPS)
_N = len(_NAMES)
# Row s of _SUBSETS marks the groups in subset s (bit g set = group g known).
_SUBSETS = np.array([[(s >> g) & 1 for g in range(_N)] for s in range(2**_N)], dtype=bool)
_COLUMNS = np.zeros((_N, len(FEATURE_NAMES)), dtype=bool)
for _g, _name in enumerate(_NAMES):
    _COLUMNS[_g, [FEATURE_NAMES.index(f) for f in GROUPS[_name]]] = True
_MASKS = (_SUBSETS.astype(np.float64) @ _COLUMNS.astype(np.float64)) > 0  # (32, 57)


def _shapley_weights() -> np.ndarray:
    """W [shape=(5, 32)] with phi = W @ v: each group's weighted marginal contributions."""
    W = np.zeros((_N, 2**_N))
    for g in range(_N):
        others = [h for h in range(_N) if h != g]
        for size in range(_N):
            weight = factorial(size) * factorial(_N - size - 1) / factorial(_N)
            for subset in combinations(others, size):
                s = sum(1 << h for h in subset)
                W[g, s | (1 << g)] += weight
                W[g, s] -= weight
    return W


_WEIGHTS = _shapley_weights()
assert len(set().union(*GROUPS.values())) == len(FEATURE_NAMES)


@dataclass(frozen=True)
class Explanation:
    """A neighbour's cosine (float64) and its parts per group, which sum to it."""

    cosine: float
    parts: dict[str, float]
    summary: str
    shared_tags: tuple[str, ...] = ()
    """Top tags both songs carry, in the order of the query's."""


def _unit_vectors(scaler: Scaler, Z: np.ndarray) -> np.ndarray:
    """The metric on standardized rows, in float64 (the index keeps float32)."""
    V = scaler.projection.transform(Z) if scaler.projection is not None else Z
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    return np.divide(V, norms, out=np.zeros_like(V), where=norms > 0)


def explain(
    scaler: Scaler,
    query_raw: np.ndarray,
    raw: np.ndarray,
    *,
    query_tags: np.ndarray | None = None,
    tags: Sequence[np.ndarray | None] | None = None,
) -> list[Explanation]:
    """Shapley parts of the cosine between a query and each row of ``raw``, and shared tags.

    Parameters
    ----------
    query_raw : np.ndarray [shape=(57,)]
    raw : np.ndarray [shape=(n, 57)]
        Raw features, as stored.
    query_tags : np.ndarray [shape=(100,)] or None
        The query's stored tag probabilities (None: not computed, or an upload).
    tags : sequence of (np.ndarray [shape=(100,)] or None), one per row of ``raw``
        The neighbours' stored tag probabilities.
    """
    raw = np.atleast_2d(raw)
    Zq = scaler.standardize(query_raw)[0]
    Zn = scaler.standardize(raw)
    Uq = _unit_vectors(scaler, _MASKS * Zq)  # (32, d)
    Un = _unit_vectors(scaler, (_MASKS[None, :, :] * Zn[:, None, :]).reshape(-1, Zn.shape[1]))
    Un = Un.reshape(len(raw), 2**_N, -1)
    values = np.einsum("sd,nsd->ns", Uq, Un)
    values[:, 0] = 0.0  # nothing known: no similarity to credit
    parts = values @ _WEIGHTS.T  # (n, 5)
    tempo_q = float(np.atleast_2d(query_raw)[0, _TEMPO])
    neighbour_tags = list(tags) if tags is not None else [None] * len(raw)
    result = []
    for row, value, song_raw, song_tags in zip(parts, values, raw, neighbour_tags, strict=True):
        named = {name: float(p) for name, p in zip(_NAMES, row, strict=True)}
        shared = tuple(shared_top_tags(query_tags, song_tags))
        summary = summarize(named, tempo_q, float(song_raw[_TEMPO]))
        result.append(
            Explanation(
                cosine=float(value[-1]),
                parts=named,
                summary=f"both tagged {', '.join(shared)}; {summary}" if shared else summary,
                shared_tags=shared,
            )
        )
    return result


def summarize(parts: dict[str, float], tempo_a: float, tempo_b: float) -> str:
    """One plain line: the groups that carry the similarity, the one that differs, the tempo."""
    ranked = sorted(parts, key=lambda g: -parts[g])
    fair = sum(parts.values()) / len(parts)
    alike = [_WORDS[g] for g in ranked[:2] if parts[g] >= fair]
    phrases = []
    if alike:
        phrases.append("similar " + " and ".join(alike))
    if parts[ranked[-1]] < 0:
        phrases.append(f"different {_WORDS[ranked[-1]]}")
    phrases.append(tempo_phrase(tempo_a, tempo_b))
    return ", ".join(phrases)


def tempo_phrase(tempo_a: float, tempo_b: float) -> str:
    """ "same tempo band", "half or double tempo" or "different tempo", with the BPMs."""
    high, low = max(tempo_a, tempo_b), min(tempo_a, tempo_b)
    if high <= 0:
        return "no detected tempo"
    if (high - low) / high <= SAME_TEMPO:
        return f"same tempo band (~{(high + low) / 2:.0f} BPM)"
    if abs(high - 2 * low) / high <= SAME_TEMPO:
        return f"half or double tempo ({low:.0f} vs {high:.0f} BPM)"
    return f"different tempo ({tempo_a:.0f} vs {tempo_b:.0f} BPM)"
