"""Decoding: the middle window of each format, mono mixing, resampling, and every way to fail."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import av
import librosa
import numpy as np
import pytest

from indexer.audio.decode import _resample, decode_window
from indexer.errors import DecodeError
from tests.helpers import (
    CLIPS_DIR,
    GTZAN_DIR,
    SR,
    dominant_hz,
    noise,
    sine,
    stepped_tone,
    write_audio,
)

# Seven 10 s steps: the middle 30 s of the 70 s track is the 500, 600 and 700 Hz steps.
STEPS_HZ = [300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0]


def _assert_middle_of_stepped_tone(y: np.ndarray, sr: int) -> None:
    """The window starts on the 500 Hz step and ends on the 700 Hz step."""
    second = sr
    assert dominant_hz(y[: second // 2], sr) == pytest.approx(500.0, abs=5.0)
    assert dominant_hz(y[15 * second : 16 * second], sr) == pytest.approx(600.0, abs=5.0)
    assert dominant_hz(y[-second // 2 :], sr) == pytest.approx(700.0, abs=5.0)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("tone.wav", {}),
        ("tone.flac", {}),
        ("tone.ogg", {}),
        ("tone.mp3", {"format": "MP3"}),
    ],
)
def test_long_track_decodes_its_middle_30_seconds(
    audio_file: Callable[..., Path], name: str, kwargs: dict[str, str]
) -> None:
    path = audio_file(name, stepped_tone(STEPS_HZ, step_s=10.0), **kwargs)

    decoded = decode_window(path)

    assert decoded.sr == SR
    assert decoded.y.dtype == np.float32
    assert decoded.y.shape == (30 * SR,)
    assert decoded.duration_s == pytest.approx(70.0, abs=0.01)
    assert decoded.offset_s == pytest.approx(20.0, abs=0.01)
    _assert_middle_of_stepped_tone(decoded.y, SR)


def test_window_length_is_a_parameter(audio_file: Callable[..., Path]) -> None:
    path = audio_file("tone.flac", stepped_tone(STEPS_HZ, step_s=10.0))

    decoded = decode_window(path, window_s=10.0)

    assert decoded.y.shape == (10 * SR,)
    assert decoded.offset_s == pytest.approx(30.0, abs=0.01)
    assert dominant_hz(decoded.y, SR) == pytest.approx(600.0, abs=5.0)


def test_short_track_is_decoded_whole(audio_file: Callable[..., Path]) -> None:
    path = audio_file("short.wav", sine(seconds=5.0))

    decoded = decode_window(path)

    assert decoded.y.shape == (5 * SR,)
    assert decoded.duration_s == pytest.approx(5.0)
    assert decoded.offset_s == 0.0


def test_gtzan_clip_slightly_over_30_seconds_is_decoded_whole() -> None:
    # 30.013 s: trimming it to 30.000 s would move its features off the GTZAN table.
    decoded = decode_window(GTZAN_DIR / "blues.00001.wav")

    assert decoded.y.shape == (661794,)
    assert decoded.offset_s == 0.0


def test_stereo_44k_is_averaged_to_mono_22k(audio_file: Callable[..., Path]) -> None:
    left = sine(440.0, seconds=3.0, sr=44100)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)  # right channel silent
    path = audio_file("stereo.wav", stereo, sr=44100)

    decoded = decode_window(path)

    assert decoded.sr == SR
    assert decoded.y.shape == (3 * SR,)
    # The average of a 0.5-amplitude tone and silence peaks at 0.25.
    assert np.abs(decoded.y).max() == pytest.approx(0.25, abs=0.01)
    assert dominant_hz(decoded.y) == pytest.approx(440.0, abs=2.0)


def test_real_stereo_clip_matches_its_22k_mono_encoding() -> None:
    hq = decode_window(CLIPS_DIR / "sorohanro_-_solo-trumpet-06.hq.ogg")  # 44.1 kHz stereo
    low = decode_window(CLIPS_DIR / "sorohanro_-_solo-trumpet-06.ogg")  # 22050 Hz mono

    assert hq.sr == low.sr == SR
    assert abs(len(hq.y) - len(low.y)) <= 1
    n = min(len(hq.y), len(low.y))
    assert np.corrcoef(hq.y[:n], low.y[:n])[0, 1] > 0.9


def _write_m4a(path: Path, y: np.ndarray, sr: int) -> Path:
    """Encode mono samples as AAC in an MP4 container with PyAV."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sr, layout="mono")
        for start in range(0, len(y), 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(y[None, start : start + 1024]), format="fltp", layout="mono"
            )
            frame.sample_rate = sr
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_m4a_goes_through_ffmpeg_and_decodes_its_middle(tmp_path: Path) -> None:
    if "aac" not in av.codecs_available:
        pytest.skip("this PyAV build's FFmpeg has no AAC encoder to make a test file with")
    path = _write_m4a(tmp_path / "tone.m4a", stepped_tone(STEPS_HZ, step_s=10.0, sr=44100), 44100)

    decoded = decode_window(path)

    assert decoded.y.shape == (30 * SR,)
    # AAC adds up to a frame of priming and padding (1024 samples, 23 ms at 44.1 kHz).
    assert decoded.duration_s == pytest.approx(70.0, abs=0.05)
    assert decoded.offset_s == pytest.approx(20.0, abs=0.05)
    _assert_middle_of_stepped_tone(decoded.y, SR)


def test_truncated_file_is_decoded_as_far_as_it_goes(audio_file: Callable[..., Path]) -> None:
    path = audio_file("cut.wav", sine(seconds=4.0), subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: 44 + (len(data) - 44) // 2])  # keep the header and half the samples

    decoded = decode_window(path)

    assert decoded.duration_s == pytest.approx(2.0, abs=0.01)
    assert decoded.y.shape == (pytest.approx(2 * SR, abs=2),)


def test_non_finite_samples_are_refused(audio_file: Callable[..., Path]) -> None:
    y = noise()
    y[1000] = np.inf
    path = audio_file("inf.wav", y, subtype="FLOAT")

    with pytest.raises(DecodeError, match="non-finite"):
        decode_window(path)


def _real_bytes(tmp_path: Path, name: str, **kwargs: str) -> bytes:
    """The bytes of a real 2 s file, to cut short."""
    return write_audio(tmp_path / name, sine(seconds=2.0), **kwargs).read_bytes()


NOT_AUDIO = "not an audio file"
NO_FRAMES = "no audio frames"
RANDOM = np.random.default_rng(7).bytes(16384)


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.wav", lambda tmp: b"", "empty file"),
        ("random.wav", lambda tmp: RANDOM, NOT_AUDIO),
        ("random.mp3", lambda tmp: RANDOM, NOT_AUDIO),
        ("random.flac", lambda tmp: RANDOM, NOT_AUDIO),
        ("random.ogg", lambda tmp: RANDOM, NOT_AUDIO),
        ("random.m4a", lambda tmp: RANDOM, NOT_AUDIO),
        ("notes.wav", lambda tmp: b"these are not samples\n" * 100, NOT_AUDIO),
        ("header_cut.wav", lambda tmp: _real_bytes(tmp, "a.wav", subtype="PCM_16")[:30], NOT_AUDIO),
        (
            "header_only.wav",
            lambda tmp: _real_bytes(tmp, "a.wav", subtype="PCM_16")[:44],
            NO_FRAMES,
        ),
        ("header_only.flac", lambda tmp: _real_bytes(tmp, "a.flac")[:100], NO_FRAMES),
        ("cut_short.ogg", lambda tmp: _real_bytes(tmp, "a.ogg")[:100], "malformed audio file"),
    ],
)
def test_bad_files_raise_decode_error_with_reason(
    tmp_path: Path, name: str, make: Callable[[Path], bytes], reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(make(tmp_path))

    with pytest.raises(DecodeError) as excinfo:
        decode_window(path)

    assert excinfo.value.reason == reason
    assert excinfo.value.path == str(path)


def test_missing_file_raises_decode_error(tmp_path: Path) -> None:
    with pytest.raises(DecodeError) as excinfo:
        decode_window(tmp_path / "nowhere.mp3")

    assert excinfo.value.reason == "file not found"


def test_directory_raises_decode_error(tmp_path: Path) -> None:
    folder = tmp_path / "album.flac"
    folder.mkdir()

    with pytest.raises(DecodeError) as excinfo:
        decode_window(folder)

    assert excinfo.value.reason == "is a directory"


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode"
)
def test_unreadable_file_raises_decode_error(audio_file: Callable[..., Path]) -> None:
    path = audio_file("locked.wav", sine())
    path.chmod(0)
    try:
        with pytest.raises(DecodeError) as excinfo:
            decode_window(path)
    finally:
        path.chmod(0o644)

    assert excinfo.value.reason == "permission denied"


@pytest.mark.parametrize(("orig_sr", "n"), [(44100, 44100 * 3 + 7), (48000, 48000), (16000, 999)])
def test_resampling_equals_librosa_resample(orig_sr: int, n: int) -> None:
    y = noise(seconds=n / orig_sr, sr=orig_sr)[:n].astype(np.float32)

    got = _resample(y, orig_sr=orig_sr, target_sr=SR)

    expected = librosa.resample(y, orig_sr=orig_sr, target_sr=SR, res_type="soxr_hq")
    assert got.dtype == expected.dtype == np.float32
    assert np.array_equal(got, expected)
