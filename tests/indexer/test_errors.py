"""File errors keep their path and reason across a process boundary.

Analysis runs in worker processes (`indexer.ingest.workers.map_in_workers`, the bench's pools);
an error raised there is pickled back to the caller. One that cannot be rebuilt from its pickle
broke the whole pool (``BrokenProcessPool``) instead of naming the file.
"""

from __future__ import annotations

import pickle
from functools import partial
from pathlib import Path

import pytest

from indexer.audio.decode import decode_window
from indexer.errors import DecodeError, FeatureError, FileError, TooShortError
from indexer.ingest.workers import map_in_workers


@pytest.mark.parametrize("error_type", [FileError, DecodeError, TooShortError, FeatureError])
def test_a_file_error_survives_pickling(error_type: type[FileError]) -> None:
    error = error_type(Path("/music/bird.ogg"), "2.70 s of audio, the network needs 3 s")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is error_type
    assert (again.path, again.reason) == ("/music/bird.ogg", error.reason)
    assert str(again) == str(error)


def test_a_workers_file_error_reaches_the_caller(tmp_path: Path) -> None:
    broken = []
    for name in ("a.flac", "b.flac"):
        path = tmp_path / name
        path.write_bytes(b"fLaC but not really" * 50)
        broken.append(path)
    task = partial(decode_window, sr=22050, window_s=30.0)
    with pytest.raises(DecodeError) as caught:
        list(map_in_workers(task, broken, workers=2, features=False))
    assert caught.value.path in {str(p) for p in broken}
