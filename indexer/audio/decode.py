"""Decode the middle of an audio file to mono float32 samples at the analysis rate.

Only the analysed window is read where the format can seek, so a long track costs about as
much as a short one. libsndfile (through soundfile) reads wav, flac, ogg/vorbis, opus, mp3 and
aiff; anything it refuses (m4a/aac, wma, ...) goes to FFmpeg (through PyAV). Mono mixing and
resampling match ``librosa.load`` so features agree with tables computed from it, without
importing librosa; PyAV is imported only when libsndfile refuses a file.
"""

from __future__ import annotations

import math
import stat
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr

from indexer.errors import DecodeError, ParameterError

if TYPE_CHECKING:
    import av

# Frames per soundfile read when salvaging a damaged file or counting frames: small enough that
# a decoder error late in the file still leaves everything before it.
_BLOCK_FRAMES = 1 << 16

# Decoded and dropped before the window after a seek: the first frames after a seek lack their
# predecessors' overlap or bit reservoir (aac, mp3) or pre-roll (opus) and start with a glitch.
_PREROLL_S = Fraction(1, 2)

# libsndfile's error codes that say more than "not audio": the format was recognised.
_SF_REASONS = {3: "malformed audio file", 4: "unsupported audio encoding"}

# Full scale of FFmpeg's integer sample formats, so they come out in [-1, 1) like libsndfile's.
_INT_FULL_SCALE = {"u8": 2.0**7, "s16": 2.0**15, "s32": 2.0**31, "s64": 2.0**63}


@dataclass(frozen=True)
class Decoded:
    """The analysed window of a track, and where it sits in the whole track."""

    y: np.ndarray
    """np.ndarray [shape=(n,), dtype=float32]: mono samples at ``sr``."""
    sr: int
    duration_s: float
    """Duration of the whole track (as far as it decodes), not of the window."""
    offset_s: float
    """Where the analysed window starts in the track."""


class _Unsupported(Exception):
    """This backend cannot open the file; another one may."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_window(
    path: Path, *, sr: int = 22050, window_s: float = 30.0, slack_s: float = 1.0
) -> Decoded:
    """Decode the middle ``window_s`` seconds of ``path`` as mono float32 at ``sr``.

    Parameters
    ----------
    path : Path
        Any audio file libsndfile or FFmpeg can read.
    sr : int
        Rate of the returned samples; resampled with soxr 'HQ' only when the file differs.
    window_s : float
        Length of the analysed window, taken from the middle of the track.
    slack_s : float
        Tracks up to ``window_s + slack_s`` long are analysed whole. GTZAN's "30 s" clips last
        up to 30.65 s; trimming even 13 ms from them moves chroma_stft_var by 3% of its spread
        over the table, so near-window tracks are kept whole to stay comparable with it.

    Returns
    -------
    Decoded
        ``y`` is np.ndarray [shape=(n,), dtype=float32], finite.

    Raises
    ------
    DecodeError
        For every failure (missing, unreadable, empty, not audio, nothing decodes, non-finite
        samples), with a short reason.
    """
    if sr <= 0 or window_s <= 0 or slack_s < 0:
        raise ParameterError(
            f"need sr > 0, window_s > 0, slack_s >= 0; got {sr}, {window_s}, {slack_s}"
        )
    path = Path(path)
    _check_file(path)

    data, native_sr, duration_s, offset_s = None, 0, 0.0, 0.0
    sf_reason: str | None = None  # why libsndfile gave nothing, None if it read frames
    try:
        data, native_sr, duration_s, offset_s = _read_window(
            _SoundfileReader(path), window_s=window_s, slack_s=slack_s
        )
    except _Unsupported as err:
        sf_reason = err.reason
    if data is None or data.shape[1] == 0:
        # libsndfile refused the file or read nothing from it: FFmpeg may still manage.
        sf_reason = sf_reason or "no audio frames"
        try:
            data, native_sr, duration_s, offset_s = _read_window(
                _AVReader(path), window_s=window_s, slack_s=slack_s
            )
        except _Unsupported as err:
            # FFmpeg's "not an audio file" says least; libsndfile may have known more.
            reason = sf_reason if err.reason == "not an audio file" else err.reason
            raise DecodeError(path, reason) from None
    if data is None or data.shape[1] == 0:
        raise DecodeError(path, "no audio frames")
    if not np.isfinite(data).all():
        raise DecodeError(path, "decoder produced non-finite samples")

    # Same as librosa.to_mono: the plain average of the channels.
    y = np.mean(data, axis=0) if data.shape[0] > 1 else data[0]
    if native_sr != sr:
        y = _resample(y, orig_sr=native_sr, target_sr=sr)
    y = np.ascontiguousarray(y, dtype=np.float32)
    return Decoded(y=y, sr=sr, duration_s=duration_s, offset_s=offset_s)


def _resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """``librosa.resample(y, orig_sr=, target_sr=, res_type="soxr_hq")``: soxr's HQ filter,
    then cut or zero-padded to ``ceil(len(y) * target_sr / orig_sr)`` samples, in ``y``'s dtype.
    """
    n_samples = int(np.ceil(y.shape[-1] * (float(target_sr) / orig_sr)))
    y_hat = soxr.resample(y, orig_sr, target_sr, quality="soxr_hq")
    if y_hat.shape[-1] > n_samples:
        y_hat = y_hat[:n_samples]
    elif y_hat.shape[-1] < n_samples:
        y_hat = np.pad(y_hat, (0, n_samples - y_hat.shape[-1]))
    return np.asarray(y_hat, dtype=y.dtype)


def _check_file(path: Path) -> None:
    """Turn file-system problems into reasons before any decoder guesses at them."""
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise DecodeError(path, "is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise DecodeError(path, "not a regular file")
        if st.st_size == 0:
            raise DecodeError(path, "empty file")
        with path.open("rb") as f:
            f.read(1)
    except FileNotFoundError:
        raise DecodeError(path, "file not found") from None
    except PermissionError:
        raise DecodeError(path, "permission denied") from None
    except OSError as err:
        raise DecodeError(path, f"cannot read file ({err.strerror or err})") from None


def _read_window(
    reader: _SoundfileReader | _AVReader, *, window_s: float, slack_s: float
) -> tuple[np.ndarray, int, float, float]:
    """Read the middle window: (data [shape=(channels, n)], native sr, duration_s, offset_s)."""
    sr = reader.sr
    whole_limit = round((window_s + slack_s) * sr)
    n_total = reader.n_frames
    if n_total is None or n_total <= whole_limit:
        # Read to the end rather than trusting the header, but stop once the track proves
        # longer than a window: then it gets windowed like any long track.
        data = reader.read(0, whole_limit + 1)
        if data.shape[1] <= whole_limit:
            return data, sr, data.shape[1] / sr, 0.0
        n_total = reader.count()
    start, n = _middle(n_total, sr, window_s=window_s, slack_s=slack_s)
    data = reader.read(start, n)
    if data.shape[1] < n:
        # The header promised more than decodes (a truncated file): window what really exists.
        n_total = reader.count()
        start, n = _middle(n_total, sr, window_s=window_s, slack_s=slack_s)
        data = reader.read(start, n)
    return data, sr, n_total / sr, start / sr


def _middle(n_total: int, sr: int, *, window_s: float, slack_s: float) -> tuple[int, int]:
    """First frame and frame count of the analysed window in a track of ``n_total`` frames."""
    if n_total <= round((window_s + slack_s) * sr):
        return 0, n_total
    n_window = round(window_s * sr)
    return (n_total - n_window) // 2, n_window


class _SoundfileReader:
    """libsndfile access: sample-exact seeking for every format it knows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._open() as f:
            self.sr = f.samplerate
            self.n_frames: int | None = f.frames if 0 <= f.frames < 2**62 else None

    def _open(self) -> sf.SoundFile:
        try:
            return sf.SoundFile(self.path)
        except sf.LibsndfileError as err:
            raise _Unsupported(_SF_REASONS.get(err.code, "not an audio file")) from None
        except (sf.SoundFileError, RuntimeError, ValueError, TypeError, OSError):
            raise _Unsupported("not an audio file") from None

    def read(self, start: int, n: int) -> np.ndarray:
        """Frames ``[start, start + n)`` as [shape=(channels, m)], m < n if decoding stops early."""
        try:
            # One read call: soundfile seeks again after every call, and each libsndfile mp3
            # seek can restart the decoder without its bit reservoir, garbling a frame or two.
            return self._read(start, n, blocks=False)
        except (sf.SoundFileError, RuntimeError):
            # Damaged data: read again in blocks to keep what decodes before the damage.
            return self._read(start, n, blocks=True)

    def _read(self, start: int, n: int, *, blocks: bool) -> np.ndarray:
        chunks: list[np.ndarray] = []
        with self._open() as f:
            channels = f.channels
            # Start a pre-roll early and drop it, so the frames an mp3 seek garbles are not ours.
            preroll = min(start, round(_PREROLL_S * f.samplerate))
            try:
                if start > 0:
                    if f.seekable():
                        f.seek(start - preroll)
                    else:
                        _skip_frames(f, start - preroll)
                remaining = n + preroll
                while remaining > 0:
                    size = min(_BLOCK_FRAMES, remaining) if blocks else remaining
                    block = f.read(size, dtype="float32", always_2d=True)
                    if len(block) == 0:
                        break
                    chunks.append(block)
                    remaining -= len(block)
            except (sf.SoundFileError, RuntimeError):
                if not blocks:
                    raise
        if not chunks:
            return np.zeros((channels, 0), dtype=np.float32)
        return np.concatenate(chunks)[preroll:].T

    def count(self) -> int:
        """Frames that actually decode, reading through the file without keeping them."""
        total = 0
        with self._open() as f:
            try:
                while len(block := f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)):
                    total += len(block)
            except (sf.SoundFileError, RuntimeError):
                pass
        return total


def _skip_frames(f: sf.SoundFile, n: int) -> None:
    """Discard ``n`` frames from a stream that cannot seek."""
    while n > 0:
        skipped = len(f.read(min(_BLOCK_FRAMES, n), dtype="float32", always_2d=True))
        if skipped == 0:
            return
        n -= skipped


class _AVReader:
    """FFmpeg access for what libsndfile refuses; seeks to a keyframe, then trims to the frame."""

    def __init__(self, path: Path) -> None:
        import av  # FFmpeg's bindings cost ~0.1 CPU s to import, and most files never need them

        self.path = path
        with self._open() as container:
            stream = container.streams.audio[0]
            self.sr: int = stream.rate
            if not self.sr:
                # FFmpeg guessed a format from the extension but found no stream header.
                raise _Unsupported("not an audio file")
            self.n_frames: int | None = None
            if stream.duration is not None and stream.time_base is not None:
                self.n_frames = math.floor(stream.duration * stream.time_base * self.sr)
            elif container.duration is not None:
                self.n_frames = math.floor(container.duration / av.time_base * self.sr)

    def _open(self) -> av.container.InputContainer:
        import av

        try:
            container = av.open(str(self.path))
        except PermissionError:
            raise _Unsupported("permission denied") from None
        except (av.FFmpegError, OSError, ValueError):
            raise _Unsupported("not an audio file") from None
        if not container.streams.audio:
            container.close()
            raise _Unsupported("no audio stream")
        return container

    def read(self, start: int, n: int) -> np.ndarray:
        """Frames ``[start, start + n)`` as [shape=(channels, m)], m < n if decoding stops early."""
        chunks: list[np.ndarray] = []
        channels = self._decode(start, n, chunks.append)
        if not chunks:
            return np.zeros((channels, 0), dtype=np.float32)
        return np.concatenate(chunks, axis=1)

    def count(self) -> int:
        """Frames that actually decode, decoding the whole stream without keeping it."""
        counts: list[int] = []
        self._decode(0, 2**62, lambda samples: counts.append(samples.shape[1]))
        return sum(counts)

    def _decode(
        self, start: int, n: int, sink: Callable[[np.ndarray], object], *, seek: bool = True
    ) -> int:
        """Pass the samples of frames ``[start, start + n)`` to ``sink``; return the channels."""
        import av

        channels = 1
        with self._open() as container:
            stream = container.streams.audio[0]
            t0 = stream.start_time or 0
            pos: int | None = 0
            if seek and start > 0 and stream.time_base is not None:
                try:
                    # Lands on the last keyframe at or before the target, minus a pre-roll so
                    # overlapped codecs (aac, mp3, opus) have warmed up by the first kept frame.
                    seek_s = max(Fraction(start, self.sr) - _PREROLL_S, Fraction(0))
                    target = t0 + int(seek_s / stream.time_base)
                    container.seek(target, stream=stream)
                    pos = None
                except (av.FFmpegError, OSError):
                    return self._decode(start, n, sink, seek=False)
            try:
                for frame in container.decode(stream):
                    if pos is None:
                        if frame.pts is None:
                            return self._decode(start, n, sink, seek=False)
                        pos = round((frame.pts - t0) * stream.time_base * self.sr)
                        if pos > start:
                            # The seek overshot (a poor index): decode from the start instead.
                            return self._decode(start, n, sink, seek=False)
                    samples = _frame_samples(frame)
                    channels = samples.shape[0]
                    lo, hi = max(start - pos, 0), min(start + n - pos, samples.shape[1])
                    pos += samples.shape[1]
                    if hi > lo:
                        sink(samples[:, lo:hi])
                    if pos >= start + n:
                        break
            except (av.FFmpegError, OSError, ValueError):
                pass  # damaged data: keep what decoded before it
        return channels


def _frame_samples(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame as float32 [shape=(channels, n)] in [-1, 1]."""
    raw = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        raw = raw.reshape(-1, channels).T
    name = frame.format.name.rstrip("p")
    if name in _INT_FULL_SCALE:
        scale = _INT_FULL_SCALE[name]
        offset = scale if name == "u8" else 0.0
        return ((raw.astype(np.float64) - offset) / scale).astype(np.float32)
    return raw.astype(np.float32, copy=False)
