"""The command line imports only what the command it runs needs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from indexer.cli import COMMANDS, main
from tests.helpers import CLIPS_DIR, write_tone

HEAVY = ("sqlalchemy", "faiss", "xgboost", "sklearn", "librosa", "numba", "pandas")

# What the features' arithmetic does without: librosa's imports (scipy.signal alone is ~0.9 s),
# numba and its kernels, FFmpeg's bindings, the network's runtime.
NOT_FOR_FEATURES = (
    "librosa",
    "numba",
    "scipy.signal",
    "scipy.ndimage",
    "scipy.stats",
    "av",
    "onnxruntime",
)

PROBE = """
import sys
from indexer.cli import main
try:
    main(sys.argv[1:], prog_name="soundalike")
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("loaded:" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(*args: str, watched: tuple[str, ...] = HEAVY) -> set[str]:
    """The ``watched`` modules in ``sys.modules`` after ``soundalike ARGS`` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=watched), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    return set(out.splitlines()[-1].removeprefix("loaded:").split(",")) - {""}


def test_help_imports_no_heavy_library() -> None:
    assert loaded_after("--help") == set()


# What loading each command may import: the modules of the queries build on `Library` and the
# recommenders at the top (the database and the index); the rest import their libraries when
# they run, not when they load.
MAY_LOAD = {
    **dict.fromkeys(COMMANDS, set()),
    **dict.fromkeys(("similar", "playlist", "path", "radio"), {"sqlalchemy", "faiss"}),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_commands_help_imports_only_what_its_module_needs(name: str) -> None:
    assert loaded_after(name, "--help") <= MAY_LOAD[name]


def test_features_reads_audio_without_the_library_or_the_model(tmp_path: Path) -> None:
    clip = tmp_path / "tone.wav"
    write_tone(clip, freq_hz=440, seconds=2.0)
    args = ("--data-dir", str(tmp_path / "data"), "features", str(clip))
    assert not loaded_after(*args) & {"sqlalchemy", "faiss", "xgboost", "sklearn", "pandas"}


@pytest.mark.parametrize("clip", ["tone.wav", "sorohanro_-_solo-trumpet-06.hq.ogg"])
def test_features_loads_neither_librosa_nor_numba(tmp_path: Path, clip: str) -> None:
    # A 22050 Hz wav, and a 44.1 kHz stereo ogg that is mixed down and resampled.
    path = CLIPS_DIR / clip
    if clip == "tone.wav":
        path = tmp_path / clip
        write_tone(path, freq_hz=440, seconds=2.0)
    args = ("--data-dir", str(tmp_path / "data"), "features", str(path))
    assert loaded_after(*args, watched=NOT_FOR_FEATURES) == set()


# librosa and numba are development tools (the reference the features are held to, and the
# optional compiled median): an install without them must index. Importing either raises here.
WITHOUT_DEV_TOOLS = """
import sys
sys.modules.update(dict.fromkeys(("librosa", "numba"), None))
from indexer.cli import main
main(sys.argv[1:], prog_name="soundalike")
"""


def test_index_runs_without_librosa_or_numba(tmp_path: Path, trained_model_dir: Path) -> None:
    music = tmp_path / "music"
    for freq_hz in (330, 440):
        # Four seconds: long enough for the network's 3-s patch, so both spaces are computed.
        write_tone(music / f"tone{freq_hz}.wav", freq_hz=freq_hz, seconds=4.0)
    shutil.copytree(trained_model_dir, tmp_path / "data" / "model")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SOUNDALIKE_DATA_DIR"] = str(tmp_path / "data")
    args = ("index", str(music), "--workers", "1", "--no-progress")

    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEV_TOOLS, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    stats = json.loads(
        subprocess.run(
            [sys.executable, "-c", WITHOUT_DEV_TOOLS, "stats", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        ).stdout
    )
    assert stats["songs"] == 2
    assert stats["spaces"]["sound"]["indexed"] == stats["spaces"]["features"]["indexed"] == 2


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_registry_help_is_the_commands_own(name: str) -> None:
    # The group lists commands from the registry without importing them; this keeps the
    # registry's line equal to the first paragraph of the command's docstring.
    ctx = click.Context(main)
    command = main.get_command(ctx, name)
    assert command is not None
    assert command.name == name
    first_paragraph = " ".join((command.help or "").split("\n\n")[0].split())
    assert COMMANDS[name][1] == first_paragraph


def test_an_unknown_command_is_still_an_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "indexer.cli", "nonesuch"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "No such command 'nonesuch'" in result.stderr
