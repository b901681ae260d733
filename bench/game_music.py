"""Assemble the real-music corpus: four free game soundtracks packaged by Debian.

    python -m bench.game_music [--held-out] [--out DIR] [--min-seconds 20] [--no-install]

Quality claims made on GTZAN and on generated songs say little about the music people own.
Debian packages the soundtracks of four free games; none of their composers worked on this
project, and the soundtrack is a label that needs no tagging: tracks of one game share a
composer and a style. This script installs the packages with apt-get when they are missing
(through sudo unless it runs as root), then builds ``<out>/<soundtrack>/<file>``: symlinks to
the installed files, and copies of the tracks inside Nexuiz's ``music.pk3`` (a zip). Files
under ``--min-seconds`` are sound effects or jingles and are left out, and so is anything that
is not audio or sits in a folder of sound effects. The corpus lives outside the repository
(default ``~/.cache/soundalike/game-music``) and never goes into it or into CI.

``--held-out`` builds a second corpus the same way from four other soundtracks Debian packages
(default ``~/.cache/soundalike/game-music-held-out``): nothing was chosen on it, so a recipe
picked on the first corpus is scored there before it becomes a default.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import mutagen

from indexer.ingest.scan import is_audio_name

DEFAULT_CORPUS = Path.home() / ".cache" / "soundalike" / "game-music"
HELD_OUT_CORPUS = DEFAULT_CORPUS.with_name("game-music-held-out")
MIN_SECONDS = 20.0

# Debian package -> soundtrack (the label, and the corpus sub-folder).
PACKAGES = {
    "wesnoth-1.16-music": "wesnoth",
    "hyperrogue-music": "hyperrogue",
    "nexuiz-music": "nexuiz",
    "drascula-music": "drascula",
}
# The held-out corpus: other free games' soundtracks, never used to choose anything.
HELD_OUT_PACKAGES = {
    "asc-music": "asc",
    "singularity-music": "singularity",
    "warzone2100-music": "warzone2100",
    "planetblupi-music-ogg": "planetblupi",
}
# Zips inside a package whose audio members are the music (Quake-style pk3 archives).
ARCHIVE_SUFFIXES = (".pk3", ".zip")
# Folders of sound effects: HyperRogue's hold a 30-s fanfare and a 20-s loop among the clicks.
EFFECT_FOLDERS = frozenset({"sounds", "sfx"})


@dataclass(frozen=True)
class Track:
    """One corpus file and its label."""

    soundtrack: str
    path: Path
    duration_s: float


def missing_packages(packages: list[str]) -> list[str]:
    """The packages dpkg does not report as installed."""
    missing = []
    for package in packages:
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if status.returncode != 0 or "install ok installed" not in status.stdout:
            missing.append(package)
    return missing


def install(packages: list[str]) -> None:
    """apt-get install ``packages`` (with sudo unless root); SystemExit if apt-get fails."""
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {' '.join(packages)} with apt-get")
    for command in (
        [*sudo, "apt-get", "update", "-qq"],
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        if subprocess.run(command, env=env, check=False).returncode != 0:
            raise SystemExit(f"failed: {' '.join(command)}")


def package_files(package: str) -> list[Path]:
    """Regular files a package installed, as dpkg lists them."""
    listing = subprocess.run(
        ["dpkg", "-L", package], capture_output=True, text=True, check=True
    ).stdout
    return sorted(p for p in map(Path, listing.splitlines()) if p.is_file() and not p.is_symlink())


def duration_s(path: Path) -> float | None:
    """Length of an audio file from its header; None when mutagen sees no audio in it."""
    try:
        audio = mutagen.File(path)
    except mutagen.MutagenError:
        return None
    if audio is None or not getattr(audio.info, "length", 0):
        return None
    return float(audio.info.length)


def _unique(folder: Path, name: str, taken: set[str]) -> Path:
    """``folder/name``, or a name made unique with a counter when two sources share it."""
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(candidate)
    return folder / candidate


def assemble(
    out: Path, *, min_seconds: float = MIN_SECONDS, packages: dict[str, str] | None = None
) -> dict[str, dict[str, int]]:
    """Build the corpus under ``out`` from the installed ``packages`` (package -> soundtrack,
    `PACKAGES` by default); counts of what was skipped.

    Everything under ``out/<soundtrack>`` is rebuilt, so a second run gives the same corpus.
    """
    skipped: dict[str, dict[str, int]] = {}
    for package, soundtrack in (packages or PACKAGES).items():
        folder = out / soundtrack
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        taken: set[str] = set()
        counts = {"short": 0, "effects": 0, "not_music": 0}
        for source in package_files(package):
            if EFFECT_FOLDERS & set(source.parent.parts):
                counts["effects"] += 1
                continue
            if source.suffix.lower() in ARCHIVE_SUFFIXES:
                _extract_archive(source, folder, taken, counts, min_seconds=min_seconds)
                continue
            if not is_audio_name(source):
                counts["not_music"] += 1
                continue
            length = duration_s(source)
            if length is None:
                counts["not_music"] += 1
            elif length < min_seconds:
                counts["short"] += 1
            else:
                _unique(folder, source.name, taken).symlink_to(source)
        skipped[soundtrack] = counts
    return skipped


def _extract_archive(
    archive: Path, folder: Path, taken: set[str], counts: dict[str, int], *, min_seconds: float
) -> None:
    """Copy the audio members of a zip that are at least ``min_seconds`` long into ``folder``."""
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            name = Path(member.filename).name
            if member.is_dir():
                continue
            if not is_audio_name(Path(name)):
                counts["not_music"] += 1
                continue
            target = _unique(folder, name, taken)
            with zf.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            length = duration_s(target)
            if length is None or length < min_seconds:
                counts["not_music" if length is None else "short"] += 1
                target.unlink()
                taken.discard(target.name)


def corpus_tracks(root: Path) -> list[Track]:
    """Every audio file of a corpus folder, labelled by its sub-folder, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"{root}: no corpus here; build it with python -m bench.game_music")
    tracks = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if is_audio_name(path):
                length = duration_s(path)
                if length is None:
                    raise SystemExit(f"{path}: not readable audio")
                tracks.append(Track(folder.name, path, length))
    if not tracks:
        raise SystemExit(f"{root}: no audio files")
    return tracks


def summary(tracks: list[Track]) -> str:
    """Per-soundtrack track counts and durations, as an aligned table."""
    lines = [f"{'soundtrack':<12} {'tracks':>6} {'minutes':>8} {'>= 70 s':>8}"]
    for name in sorted({t.soundtrack for t in tracks}):
        own = [t for t in tracks if t.soundtrack == name]
        minutes = sum(t.duration_s for t in own) / 60
        long = sum(t.duration_s >= 70 for t in own)
        lines.append(f"{name:<12} {len(own):>6} {minutes:>8.1f} {long:>8}")
    minutes = sum(t.duration_s for t in tracks) / 60
    long = sum(t.duration_s >= 70 for t in tracks)
    lines.append(f"{'total':<12} {len(tracks):>6} {minutes:>8.1f} {long:>8}")
    return "\n".join(lines)


def main() -> None:
    """Install what is missing, build the corpus, print its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="default: ~/.cache/soundalike/game-music")
    parser.add_argument(
        "--held-out", action="store_true", help="the second corpus, of four other soundtracks"
    )
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS)
    parser.add_argument("--no-install", action="store_true", help="fail instead of calling apt-get")
    args = parser.parse_args()
    packages = HELD_OUT_PACKAGES if args.held_out else PACKAGES
    out = args.out or (HELD_OUT_CORPUS if args.held_out else DEFAULT_CORPUS)

    missing = missing_packages(list(packages))
    if missing:
        if args.no_install:
            raise SystemExit(f"missing packages: {' '.join(missing)}")
        install(missing)
    skipped = assemble(out, min_seconds=args.min_seconds, packages=packages)
    for soundtrack, counts in skipped.items():
        print(
            f"{soundtrack}: left out {counts['short']} file(s) under {args.min_seconds:g} s, "
            f"{counts['effects']} in folders of sound effects, "
            f"{counts['not_music']} that are not audio"
        )
    print(f"corpus in {out}")
    print(summary(corpus_tracks(out)))


if __name__ == "__main__":
    main()
