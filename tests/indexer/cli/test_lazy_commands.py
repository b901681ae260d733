"""The command line imports only what the command it runs needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from indexer.cli import COMMANDS, main
from tests.helpers import write_tone

HEAVY = ("sqlalchemy", "faiss", "xgboost", "sklearn", "librosa", "numba")

PROBE = """
import sys
from indexer.cli import main
try:
    main(sys.argv[1:], prog_name="soundalike")
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("loaded:" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(*args: str) -> set[str]:
    """The heavy libraries in ``sys.modules`` after ``soundalike ARGS`` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
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
    loaded = loaded_after("--data-dir", str(tmp_path / "data"), "features", str(clip))
    # The features need librosa (and its numba kernels), never the database, index or model.
    assert {"librosa", "numba"} <= loaded
    assert not loaded & {"sqlalchemy", "faiss", "xgboost", "sklearn"}


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
