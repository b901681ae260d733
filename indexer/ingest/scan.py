"""Find the audio files of a library folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".wma"}
)


def is_audio_name(path: Path) -> bool:
    """Whether a file name has an extension we try to decode."""
    return path.suffix.lower() in AUDIO_EXTENSIONS


def _identity(path: Path) -> tuple[int, int] | None:
    """The (st_dev, st_ino) of what ``path`` leads to, or None when it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _leads_to_folder(entry: os.DirEntry[str]) -> bool:
    """Whether a symlink leads to a folder; a broken one or a loop of links does not."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _read_tree(
    top: Path, *, read: set[tuple[int, int] | None], links_followed: int, links: list[Path]
) -> Iterator[tuple[int, Path]]:
    """Audio-named paths in the real folders under ``top``, in sorted order; folder symlinks
    met on the way go to ``links``, folders already in ``read`` are skipped."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            stat = folder.stat()
            if (stat.st_dev, stat.st_ino) in read:
                log.info("not scanning %s: its folder was already scanned", folder)
                continue
            read.add((stat.st_dev, stat.st_ino))
            with os.scandir(folder) as entries:
                listed = sorted(entries, key=lambda entry: entry.name)
        except OSError as exc:
            log.warning("cannot read folder %s: %s", folder, exc.strerror or exc)
            continue
        subfolders: list[Path] = []
        for entry in listed:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(path)
            elif entry.is_symlink() and _leads_to_folder(entry):
                links.append(path)
            elif is_audio_name(path):
                yield links_followed + entry.is_symlink(), path
        # Popped last first: subfolders are read in sorted order.
        stack.extend(reversed(subfolders))


def _walk_audio(root: Path) -> Iterator[tuple[int, Path]]:
    """Audio-named paths under ``root`` with the number of symlinks followed to reach each.

    Folders are read by rounds: the real tree first, then the trees behind the symlinks found
    in it, and so on, each round in sorted order, so a folder reachable several ways is read
    once, through the fewest links and then the first path in sorted order. A folder is known
    by its (st_dev, st_ino), which ends a loop (a link to an ancestor) on the second visit;
    the folders holding ``root`` count as read, since a link to one would re-enter the library.
    """
    if not root.is_dir():
        if root.is_file() and is_audio_name(root):
            yield 0, root
        return
    read = {_identity(parent) for parent in Path(os.path.realpath(root)).parents}
    links_followed = 0
    tops = [root]
    while tops:
        links: list[Path] = []
        for top in sorted(tops):
            yield from _read_tree(top, read=read, links_followed=links_followed, links=links)
        tops = links
        links_followed += 1


def scan_library(root: Path) -> list[Path]:
    """Every audio file under ``root``, each once, sorted, as absolute paths.

    Folder symlinks are followed (``Artist -> /mnt/nas/Artist``), and the paths returned go
    through them, so they stay under ``root``. A file reachable by several paths (a folder
    linked twice, a file symlink, a hard link) is listed once, under the path that follows the
    fewest symlinks and, among those, sorts first: the same choice on every run whatever order
    the file system lists folders in, and a file's real place in the library wins over links
    to it. A path that cannot be read (a broken link) is kept, so the run reports it skipped.
    """
    root = Path(os.path.abspath(root))
    chosen: dict[tuple[int, int] | Path, tuple[int, Path]] = {}
    for links_followed, path in _walk_audio(root):
        key = _identity(path) or path
        if key not in chosen or (links_followed, path) < chosen[key]:
            chosen[key] = (links_followed, path)
    return sorted(path for _, path in chosen.values())


def has_audio(folder: Path) -> bool:
    """Whether :func:`scan_library` would find anything, stopping at the first audio file."""
    return next(_walk_audio(Path(os.path.abspath(folder))), None) is not None


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files and folders given on a command line, folders scanned, each file once.

    A file reachable through several of the arguments keeps the path of the first.
    """
    chosen: dict[tuple[int, int] | Path, Path] = {}
    for path in paths:
        absolute = Path(os.path.abspath(path))
        for found in scan_library(absolute) if absolute.is_dir() else [absolute]:
            chosen.setdefault(_identity(found) or found, found)
    return list(chosen.values())
