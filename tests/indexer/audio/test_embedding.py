"""The musicnn embedding: the ONNX networks against TensorFlow's outputs, the front end, refusals.

``tests/data/musicnn_references.npz`` was written by ``scripts/convert_musicnn.py`` with
TensorFlow 2.15 running the wheel's checkpoints: for each clip, the penultimate layer and tag
probabilities of every patch, and the float16 mel power of the first patch (the network's exact
input, so the network can be checked apart from the front end).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import soxr

from indexer.audio.embedding import (
    HOP_LENGTH,
    MAX_PATCHES,
    MIN_DURATION_S,
    MODEL_DIR,
    MODELS,
    N_FFT,
    N_MELS,
    N_PENULTIMATE,
    N_TAGS,
    PATCH_FRAMES,
    SR,
    embed,
    log_mel_patches,
    run_model,
    spread_patches,
    tag_names,
)
from indexer.errors import FeatureError, ModelError, ParameterError, TooShortError
from tests.helpers import CLIPS_DIR, silence, sine

ROOT = Path(__file__).resolve().parents[3]
REFERENCES = np.load(ROOT / "tests" / "data" / "musicnn_references.npz")
CLIPS = [str(name) for name in REFERENCES["clips"]]

# The network alone, on TensorFlow's exact input. The conversion measured onnxruntime within
# 3.9e-6 (penultimate, values up to about 4) and 9.5e-7 (tags) of TensorFlow; the rest of the
# margin is for processors whose convolution and matrix kernels sum in another order (SIMD
# width, fused multiply-add), which moves float32 results in their last bits.
NETWORK_ATOL = {"penultimate": 5e-5, "tags": 1e-5}
# Whole pipeline from the decoded clip. On top of the above, the float32 FFT of another numpy or
# processor can differ in its last bit and flip the float16 rounding of a mel value now and then;
# flipping even 10% of a patch's values by one float16 step moved the penultimate by at most
# 3e-4 and the tags by 5e-5.
PIPELINE_ATOL = {"penultimate": 1e-3, "tags": 2e-4}
# One float16 step of the mel power changes log10(10000 S + 1) by at most log10(1 + 2**-10).
FLOAT16_STEP_IN_LOG = 4.3e-4


def _clip(name: str) -> tuple[np.ndarray, int]:
    y, sr = sf.read(ROOT / name, dtype="float32")
    return y, sr


def _reference(name: str, model: str, output: str) -> np.ndarray:
    return REFERENCES[f"clip{CLIPS.index(name)}_{model}_{output}"]


def _recorded_input(name: str) -> np.ndarray:
    power = REFERENCES[f"clip{CLIPS.index(name)}_first_patch_power"].astype(np.float32)
    return np.log10(np.float32(10000) * power + np.float32(1))


def test_references_cover_real_music() -> None:
    n_patches = [len(_reference(name, MODELS[0], "penultimate")) for name in CLIPS]

    assert len(CLIPS) >= 3
    assert sum(n_patches) >= 40


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", CLIPS)
def test_network_reproduces_tensorflow_on_its_recorded_input(name: str, model: str) -> None:
    penultimate, tags = run_model(_recorded_input(name)[None], model=model)

    np.testing.assert_allclose(
        penultimate[0], _reference(name, model, "penultimate")[0],
        rtol=0, atol=NETWORK_ATOL["penultimate"],
    )  # fmt: skip
    np.testing.assert_allclose(
        tags[0], _reference(name, model, "tags")[0], rtol=0, atol=NETWORK_ATOL["tags"]
    )


@pytest.mark.parametrize("name", CLIPS)
def test_front_end_reproduces_the_recorded_input(name: str) -> None:
    y, sr = _clip(name)

    got = log_mel_patches(y=y, sr=sr)[0]
    diff = np.abs(got - _recorded_input(name))

    assert diff.max() <= FLOAT16_STEP_IN_LOG
    assert np.count_nonzero(diff) <= 0.01 * diff.size


@pytest.mark.parametrize("max_patches", [None, 1, 3, MAX_PATCHES])
@pytest.mark.parametrize("name", CLIPS)
def test_front_end_is_librosas_melspectrogram(name: str, max_patches: int | None) -> None:
    # musicnn's own front end, with librosa: the mel power of the 16 kHz signal, as float16.
    # With max_patches, only the kept patches' frames are computed, each patch from its own
    # stretch of the signal: they must be the whole spectrogram's.
    y, sr = _clip(name)
    y16 = soxr.resample(y, sr, SR, quality="HQ").astype(np.float32)
    mel = librosa.feature.melspectrogram(
        y=y16, sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS
    )
    power = mel.T.astype(np.float16).astype(np.float32)
    expected = np.log10(np.float32(10000) * power + np.float32(1))
    n_patches = len(expected) // PATCH_FRAMES
    expected = expected[: n_patches * PATCH_FRAMES].reshape(n_patches, PATCH_FRAMES, N_MELS)
    if max_patches is not None:
        expected = expected[spread_patches(n_patches, max_patches=max_patches)]

    got = log_mel_patches(y=y, sr=sr, max_patches=max_patches)
    diff = np.abs(got - expected)

    assert got.shape == expected.shape
    # The mel power is librosa's within float32 rounding (test_spectral.py); a value on a float16
    # rounding boundary may still round the other way, by one step.
    assert diff.max() <= FLOAT16_STEP_IN_LOG
    assert np.count_nonzero(diff) <= 1e-4 * diff.size


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", CLIPS)
def test_pipeline_reproduces_tensorflow_patch_by_patch(name: str, model: str) -> None:
    y, sr = _clip(name)

    penultimate, tags = run_model(log_mel_patches(y=y, sr=sr), model=model)

    expected_penultimate = _reference(name, model, "penultimate")
    assert penultimate.shape == expected_penultimate.shape
    np.testing.assert_allclose(
        penultimate, expected_penultimate, rtol=0, atol=PIPELINE_ATOL["penultimate"]
    )
    np.testing.assert_allclose(
        tags, _reference(name, model, "tags"), rtol=0, atol=PIPELINE_ATOL["tags"]
    )


@pytest.mark.parametrize("name", CLIPS)
def test_embed_averages_the_spread_patches(name: str) -> None:
    y, sr = _clip(name)

    result = embed(y=y, sr=sr)

    assert list(result) == list(MODELS)
    for model, emb in result.items():
        kept = spread_patches(len(_reference(name, model, "penultimate")))
        expected = _reference(name, model, "penultimate")[kept]
        assert emb.model == model
        assert emb.n_patches == len(expected) == min(MAX_PATCHES, len(kept))
        assert emb.penultimate.shape == (N_PENULTIMATE,)
        assert emb.penultimate.dtype == np.float32
        assert emb.tags.shape == (N_TAGS,)
        assert emb.tags.dtype == np.float32
        assert emb.tag_names == tag_names(model)
        np.testing.assert_allclose(
            emb.penultimate, expected.mean(axis=0), rtol=0, atol=PIPELINE_ATOL["penultimate"]
        )
        np.testing.assert_allclose(
            emb.tags,
            _reference(name, model, "tags")[kept].mean(axis=0),
            rtol=0,
            atol=PIPELINE_ATOL["tags"],
        )


@pytest.mark.parametrize(
    ("n_patches", "max_patches", "expected"),
    [(10, 4, [1, 3, 6, 8]), (10, 3, [1, 5, 8]), (20, 4, [2, 7, 12, 17]), (3, 4, [0, 1, 2]),
     (10, 1, [5]), (1, 4, [0])],
)  # fmt: skip
def test_spread_patches_cover_the_window(n_patches: int, max_patches: int, expected: list) -> None:
    assert spread_patches(n_patches, max_patches=max_patches).tolist() == expected


def test_spread_patches_need_one() -> None:
    with pytest.raises(ParameterError):
        spread_patches(10, max_patches=0)


def test_the_string_orchestra_is_heard_as_strings_and_classical() -> None:
    name = next(name for name in CLIPS if "string_orchestra" in name)
    y, sr = _clip(name)

    emb = embed(y=y, sr=sr, models=("MTT_musicnn",))["MTT_musicnn"]
    top = {emb.tag_names[i] for i in np.argsort(emb.tags)[::-1][:5]}

    assert {"classical", "strings"} <= top


def test_tag_names_are_the_wheels_lists() -> None:
    lists = json.loads((MODEL_DIR / "tags.json").read_text(encoding="utf-8"))

    assert sorted(lists) == sorted(MODELS)
    for model in MODELS:
        names = tag_names(model)
        assert names == tuple(lists[model])
        assert len(names) == len(set(names)) == N_TAGS
    assert tag_names("MSD_musicnn")[:3] == ("rock", "pop", "alternative")
    assert tag_names("MTT_musicnn")[:3] == ("guitar", "classical", "slow")


@pytest.mark.parametrize(
    ("seconds", "sr", "n_patches"),
    [(10.0, SR, 3), (10.0, 22050, 3), (30.0, 22050, 10), (6.0, 44100, 2)],
)
def test_patches_are_whole_and_do_not_overlap(seconds: float, sr: int, n_patches: int) -> None:
    patches = log_mel_patches(y=sine(440.0, seconds=seconds, sr=sr), sr=sr)

    assert patches.shape == (n_patches, PATCH_FRAMES, N_MELS)
    assert patches.dtype == np.float32


def test_front_end_puts_a_tone_in_its_mel_band() -> None:
    # Band centres of librosa's (Slaney) mel filters: n_mels + 2 edges from 0 Hz to sr / 2.
    centres = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=0.0, fmax=SR / 2)[1:-1]
    for freq_hz, sr in [(1000.0, SR), (1000.0, 22050), (3000.0, 44100)]:
        patches = log_mel_patches(y=sine(freq_hz, seconds=4.0, sr=sr), sr=sr)

        loudest = np.argmax(patches[0], axis=1)

        assert np.all(loudest == np.argmin(np.abs(centres - freq_hz))), (freq_hz, sr)
        # log10(10000 S + 1) of a half-scale tone's band: far above silence, which gives 0.
        assert patches[0][:, loudest[0]].min() > 2.0


def test_the_shortest_signal_is_one_patch() -> None:
    n = round(MIN_DURATION_S * SR)
    assert (1 + n // HOP_LENGTH) == PATCH_FRAMES

    assert log_mel_patches(y=sine(seconds=n / SR, sr=SR), sr=SR).shape[0] == 1
    with pytest.raises(TooShortError, match="at least 2.976 s"):
        log_mel_patches(y=sine(seconds=(n - 1) / SR, sr=SR), sr=SR)


@pytest.mark.parametrize(
    "y",
    [
        np.zeros(0, dtype=np.float32),
        sine(seconds=1.0),
        sf.read(CLIPS_DIR / "456440__inspectorj__bird-whistling-robin-single-13.ogg")[0],
    ],
    ids=["empty", "one-second", "robin-2.7s"],
)
def test_too_short_is_refused(y: np.ndarray) -> None:
    with pytest.raises(TooShortError) as err:
        embed(y=y, sr=22050, path="short.ogg")

    assert err.value.path == "short.ogg"


def test_silence_gives_finite_values() -> None:
    result = embed(y=silence(seconds=10.0), sr=22050)

    for emb in result.values():
        assert np.isfinite(emb.penultimate).all()
        assert np.isfinite(emb.tags).all()
        assert ((emb.tags >= 0) & (emb.tags <= 1)).all()


def test_far_beyond_full_scale_stays_finite() -> None:
    result = embed(y=1e4 * sine(100.0, seconds=4.0), sr=22050)

    for emb in result.values():
        assert np.isfinite(emb.penultimate).all()
        assert np.isfinite(emb.tags).all()


def test_non_finite_samples_are_refused() -> None:
    y = sine(seconds=4.0)
    y[100] = np.nan

    with pytest.raises(FeatureError, match="non-finite samples"):
        embed(y=y, sr=22050)


def test_unknown_model_is_refused() -> None:
    y = sine(seconds=4.0)

    with pytest.raises(ModelError, match="unknown musicnn model"):
        embed(y=y, sr=22050, models=("MSD_vgg",))
    with pytest.raises(ModelError, match="unknown musicnn model"):
        tag_names("MSD_vgg")


def test_importing_does_not_load_onnxruntime() -> None:
    code = (
        "import sys, indexer.audio.embedding; "
        "sys.exit('onnxruntime' in sys.modules)"
    )  # fmt: skip

    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
