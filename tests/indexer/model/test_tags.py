"""Tag profiles: the merged vocabulary, its kinds, and top tags of real network outputs."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.audio.embedding import STORED_TAGS, all_tag_names, describe
from indexer.errors import ParameterError
from indexer.model.tags import (
    KINDS,
    TAG_KINDS,
    TAG_THRESHOLD,
    TAG_VOCABULARY,
    carried_tags,
    merge_tag_probabilities,
    normalize_tags,
    profile_scores,
    shared_top_tags,
    tag_models,
    top_tags,
)
from tests.helpers import SR, noise, sine


def test_vocabulary_is_the_networks_names_merged_and_every_tag_has_a_kind() -> None:
    stored = all_tag_names()
    assert len(stored) == STORED_TAGS == 100
    assert TAG_VOCABULARY == tuple(dict.fromkeys(name.lower() for name in stored))
    assert len(TAG_VOCABULARY) == 92
    assert set(TAG_KINDS) == set(TAG_VOCABULARY)
    # Every kind the README names has members.
    assert {TAG_KINDS[t] for t in TAG_VOCABULARY} == set(KINDS)
    assert (TAG_KINDS["jazz"], TAG_KINDS["sad"], TAG_KINDS["80s"]) == ("genre", "mood", "era")
    assert (TAG_KINDS["piano"], TAG_KINDS["female vocalists"]) == ("instrument", "voice")
    assert TAG_KINDS["slow"] == "tempo"
    both = {t for t in TAG_VOCABULARY if len(tag_models(t)) == 2}
    assert both == {"rock", "pop", "electronic", "dance", "metal", "ambient", "country", "guitar"}


def test_a_shared_name_takes_the_larger_of_the_two_probabilities() -> None:
    stored = [name.lower() for name in all_tag_names()]
    first, second = (i for i, name in enumerate(stored) if name == "rock")
    vector = np.zeros(STORED_TAGS, dtype=np.float32)
    vector[first], vector[second] = 0.3, 0.6
    merged = merge_tag_probabilities(vector)
    assert merged[TAG_VOCABULARY.index("rock")] == pytest.approx(0.6)
    vector[first], vector[second] = 0.7, 0.1
    both = merge_tag_probabilities(np.vstack([vector, vector * 0]))
    assert both.shape == (2, 92)
    assert both[:, TAG_VOCABULARY.index("rock")] == pytest.approx([0.7, 0.0])
    with pytest.raises(ParameterError):
        merge_tag_probabilities(np.zeros(50))


def test_the_network_hears_a_pure_tone_and_noise_differently() -> None:
    tone = describe(y=sine(440.0, seconds=4.0), sr=SR).tags
    hiss = describe(y=noise(seconds=4.0), sr=SR).tags
    tone_tags = top_tags(tone)
    assert 1 <= len(tone_tags) <= 5
    assert all(t.probability >= TAG_THRESHOLD for t in tone_tags)
    assert [t.probability for t in tone_tags] == sorted(
        (t.probability for t in tone_tags), reverse=True
    )
    # A sine is heard as a flute; white noise as fast electronic music, never as a flute.
    assert "flute" in carried_tags(tone)
    assert "flute" not in carried_tags(hiss)
    assert "electronic" in carried_tags(hiss)
    assert shared_top_tags(tone, tone) == [t.tag for t in tone_tags]
    scores = profile_scores(np.vstack([tone, hiss]), ["flute"])
    assert scores[0] > scores[1]


def test_songs_without_tags_have_none() -> None:
    assert top_tags(None) == []
    assert carried_tags(None) == frozenset()
    assert shared_top_tags(None, np.full(STORED_TAGS, 0.9, dtype=np.float32)) == []


def test_a_profile_prefers_songs_with_every_tag() -> None:
    def song(**probabilities: float) -> np.ndarray:
        vector = np.zeros(STORED_TAGS, dtype=np.float32)
        stored = [name.lower() for name in all_tag_names()]
        for tag, p in probabilities.items():
            vector[stored.index(tag)] = p
        return vector

    only_chill = song(chill=0.9)
    both = song(chill=0.5, electronica=0.5)
    scores = profile_scores(np.vstack([only_chill, both]), ["chill", "electronica"])
    assert scores[1] > scores[0]
    assert scores[1] == pytest.approx(0.5, rel=1e-5)
    with pytest.raises(ParameterError):
        profile_scores(np.vstack([both]), [])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["Hip-Hop"], ("hip-hop",)),
        ([" Mellow ", "mellow"], ("mellow",)),
        (["female  vocalists", "80s"], ("female vocalists", "80s")),
    ],
)
def test_tag_names_are_matched_ignoring_case_and_spaces(
    given: list[str], expected: tuple[str, ...]
) -> None:
    assert normalize_tags(given) == expected


@pytest.mark.parametrize("name", ["trumpet", "", "rock,pop", "hiphop"])
def test_unknown_tags_are_refused(name: str) -> None:
    with pytest.raises(ParameterError, match="unknown tag"):
        normalize_tags([name])
