"""What a run has to do: compare files on disk with the rows and turn the difference into work.

A file whose size or mtime changed is analysed (or, when its row knows its audio hash, only
rechecked); one that vanished while a file of the same content appeared elsewhere moved; a row
under the scanned root whose file is gone is removed; a row that lacks the current network
description gets a `SoundJob`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from db.repo import FileState
from indexer.audio.analyse import RecheckJob, Skipped, SoundJob, file_hash
from indexer.library import Library


@dataclass
class Plan:
    """Which files need analysis, which only moved, and which rows are gone."""

    to_analyse: list[Path] = field(default_factory=list)
    moved: list[tuple[int, Path, int]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    known_audio: dict[str, str] = field(default_factory=dict)
    """The row's audio hash of each file to analyse that has one (see `analysis_items`)."""


def plan_index(
    library: Library,
    paths: Sequence[Path],
    *,
    root: Path | None,
    recheck: Collection[str] = (),
) -> Plan:
    """Compare files on disk with the rows; ``root`` also lets rows under it be removed.

    Paths in ``recheck`` are looked at even when their size and mtime match the row: a program
    that just wrote a file's tags may have put the old modification time back.
    """
    plan = Plan()
    states = library.file_states()
    on_disk: dict[str, os.stat_result] = {}
    for path in paths:
        try:
            on_disk[str(path)] = path.stat()
        except OSError as exc:
            plan.skipped.append(Skipped(str(path), exc.strerror or str(exc)))
    missing: list[FileState] = []
    if root is not None:
        prefix = str(root).rstrip(os.sep) + os.sep
        missing = [
            s
            for p, s in states.items()
            if (p.startswith(prefix) or p == str(root)) and p not in on_disk
        ]
    missing_by_size: dict[int, list[FileState]] = {}
    for state in missing:
        missing_by_size.setdefault(state.size_bytes, []).append(state)
    gone_ids = {s.id for s in missing}
    for path_str, stat in on_disk.items():
        state = states.get(path_str)
        if (
            state
            and state.size_bytes == stat.st_size
            and state.mtime_ns == stat.st_mtime_ns
            and path_str not in recheck
        ):
            plan.unchanged += 1
            continue
        if state and state.audio_hash:
            plan.known_audio[path_str] = state.audio_hash
        path = Path(path_str)
        if state is None and stat.st_size in missing_by_size:
            moved_from = _same_content(path, missing_by_size[stat.st_size])
            if moved_from is not None:
                missing_by_size[stat.st_size].remove(moved_from)
                gone_ids.discard(moved_from.id)
                plan.moved.append((moved_from.id, path, stat.st_mtime_ns))
                continue
        plan.to_analyse.append(path)
    plan.removed = sorted(gone_ids)
    return plan


def _same_content(path: Path, candidates: list[FileState]) -> FileState | None:
    try:
        digest = file_hash(path)
    except OSError:
        return None
    return next((c for c in candidates if c.content_hash == digest), None)


def analysis_items(plan: Plan, *, lacking_sound: Collection[str]) -> list[Path | RecheckJob]:
    """The plan's files as worker items: a `RecheckJob` where a refresh can stand in for analysis.

    That is a changed file whose row knows its audio hash and has the current network
    description; every other file is analysed whole. A row in ``lacking_sound`` (paths) would
    still lack the description after a refresh, and a `SoundJob` made from its old size and
    mtime would find the file changed: analysing it whole fills it in the same run. Each job
    carries its own hash, so a worker receives one string per file, not the plan's mapping.
    """
    items: list[Path | RecheckJob] = []
    for path in plan.to_analyse:
        known = plan.known_audio.get(str(path))
        recheck = known is not None and str(path) not in lacking_sound
        items.append(RecheckJob(str(path), known) if recheck else path)
    return items


def sound_jobs(states: Iterable[FileState]) -> list[SoundJob]:
    """The `SoundJob` of each row that lacks the network's description."""
    return [SoundJob(s.id, s.path, s.size_bytes, s.mtime_ns) for s in states]
