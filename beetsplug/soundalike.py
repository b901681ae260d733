"""Soundalike inside beets: index a beets library, ask for similar items, write sonic mixes.

Enabled with ``plugins: soundalike`` in beets' config (see docs/beets.md). Paths and tags come
from beets, so nothing scans the disk a second time; the analysis, the rows and the neighbour
queries are Soundalike's own (`indexer.ingest.pipeline`, `indexer.library.Library`), so a song
indexed here is the same song ``soundalike serve`` answers with.

With ``auto: yes`` (the default) beets' events keep Soundalike in step: what an import brings
is indexed when the command ends; a tag write refreshes the row (file state and tags) without
analysing audio that did not change; a move moves the row; a removal removes it. The work is
gathered while the command runs and done once, at its end, in one batch.

Soundalike (librosa, FAISS, the database) is imported only when a command or event needs it,
so the plugin adds nothing to the start-up of ``beet ls`` and friends.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from beets import ui
from beets.dbcore.query import PathQuery
from beets.exceptions import UserError
from beets.plugins import BeetsPlugin

if TYPE_CHECKING:
    from beets.importer import ImportSession, ImportTask
    from beets.library import Item
    from beets.library import Library as BeetsLibrary

    from indexer.ingest.pipeline import KnownFile
    from indexer.ingest.write import IndexReport
    from indexer.library import Library


def item_path(item: Item) -> str:
    """The item's file as Soundalike stores it: an absolute path as text."""
    return os.fsdecode(item.path)


class SoundalikePlugin(BeetsPlugin):
    """The ``soundalike``, ``similar`` and ``sonicmix`` commands and the event hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "data_dir": "",
                "database_url": "",
                "workers": 0,
                "auto": True,
                "max_per_artist": 0,
            }
        )
        self.config["database_url"].redact = True
        self._library: Library | None = None
        self._imported: dict[int, Item] = {}
        self._written: dict[int, Item] = {}
        self._moves: list[tuple[str, str]] = []
        self._removed: list[str] = []
        if self.config["auto"].get(bool):
            self.register_listener("import_task_files", self.on_import_task_files)
            self.register_listener("after_write", self.on_after_write)
            self.register_listener("item_moved", self.on_item_moved)
            self.register_listener("item_removed", self.on_item_removed)
            self.register_listener("cli_exit", self.on_cli_exit)

    # --- Soundalike ----------------------------------------------------------------------

    def library(self) -> Library:
        """The Soundalike library the config names (or the environment, or the default)."""
        if self._library is None:
            from indexer.library import Library
            from indexer.settings import load_settings

            overrides: dict[str, object] = {}
            if self.config["data_dir"].get(str):
                overrides["data_dir"] = self.config["data_dir"].as_filename()
            if self.config["database_url"].get(str):
                overrides["database_url"] = self.config["database_url"].get(str)
            if self.config["workers"].get(int) > 0:
                overrides["workers"] = self.config["workers"].get(int)
            settings = load_settings(overrides=overrides)
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._library = Library(settings)
        return self._library

    def index_items(self, items: Iterable[Item], *, recheck: Iterable[str] = ()) -> IndexReport:
        """Index these beets items (their paths and tags), skipping what did not change."""
        from indexer.ingest.pipeline import index_known_files

        library = self.library()
        files = [known_file(item) for item in items]
        return index_known_files(
            library,
            files,
            workers=library.settings.workers,
            progress=bool(files),
            recheck=frozenset(recheck),
            on_skip=lambda s: self._log.warning("skipped {}: {}", s.path, s.reason),
        )

    def song_ids(self, items: Iterable[Item]) -> list[int]:
        """Soundalike's ids of these items, in their order; an item it does not know is left out."""
        paths = [item_path(item) for item in items]
        ids = self.library().song_ids_by_path(paths)
        return [ids[p] for p in paths if p in ids]

    def seed_ids(self, lib: BeetsLibrary, query: Sequence[str]) -> list[int]:
        """The Soundalike ids of the items ``query`` matches; a UserError when there are none."""
        items = list(lib.items(query))
        if not items:
            raise UserError(f"no item matches {' '.join(query)!r}")
        ids = self.song_ids(items)
        if not ids:
            raise UserError("none of the matching items is indexed: run `beet soundalike` first")
        return ids

    # --- commands ------------------------------------------------------------------------

    def commands(self) -> list[ui.Subcommand]:
        """``beet soundalike``, ``beet similar`` and ``beet sonicmix``."""
        index_cmd = ui.Subcommand("soundalike", help="index items into Soundalike")
        index_cmd.func = self.index_command

        similar_cmd = ui.Subcommand("similar", help="print the items that sound most alike")
        similar_cmd.parser.add_option(
            "-k", "--count", type=int, default=10, help="how many items [default: %default]"
        )
        similar_cmd.parser.add_format_option(target="item")
        similar_cmd.func = self.similar_command

        mix_cmd = ui.Subcommand("sonicmix", help="a playlist that moves on from the matches")
        mix_cmd.parser.add_option(
            "-n", "--length", type=int, default=25, help="songs in the mix [default: %default]"
        )
        mix_cmd.parser.add_option("-o", "--output", help="write an M3U8 playlist to this file")
        mix_cmd.parser.add_option(
            "--max-per-artist", type=int, help="at most this many songs by one artist"
        )
        mix_cmd.parser.add_format_option(target="item")
        mix_cmd.func = self.sonicmix_command
        return [index_cmd, similar_cmd, mix_cmd]

    def index_command(self, lib: BeetsLibrary, opts: object, args: list[str]) -> None:
        """Index the items ``args`` matches (every item without a query)."""
        report = self.index_items(lib.items(args))
        self.print_report(report)
        self.close()

    def similar_command(self, lib: BeetsLibrary, opts: object, args: list[str]) -> None:
        """Print the items nearest to the matching ones, best first, in beets' item format.

        With several matches, an item's score is its best cosine to any of them. Songs that
        Soundalike knows but beets does not (indexed from elsewhere) are passed over.
        """
        k = getattr(opts, "count", 10)
        if k < 1:
            raise UserError("-k must be at least 1")
        library = self.library()
        seeds = self.seed_ids(lib, args)
        space = library.answering_space(None, seeds=seeds)
        best: dict[int, tuple[float, str]] = {}
        for seed in seeds:
            # Extra neighbours: some may be other seeds, or songs beets does not hold.
            _, found = library.similar_to_song(seed, k=3 * k + len(seeds), space=space)
            for hit in found:
                if hit.song.id not in seeds and hit.score > best.get(hit.song.id, (-2.0, ""))[0]:
                    best[hit.song.id] = (hit.score, hit.song.path)
        shown = 0
        for _, (score, path) in sorted(best.items(), key=lambda kv: -kv[1][0]):
            item = beets_item(lib, path)
            if item is None:
                continue
            item["similarity"] = f"{score:.3f}"
            ui.print_(format(item))
            shown += 1
            if shown == k:
                break
        self.close()

    def sonicmix_command(self, lib: BeetsLibrary, opts: object, args: list[str]) -> None:
        """A playlist opening with the matching items, each next song near the last and the seeds.

        Prints the mix in beets' item format; ``-o`` also writes it as M3U8 (paths relative to
        the playlist's folder).
        """
        from indexer.errors import IndexerError
        from indexer.walks.m3u import write_m3u8
        from indexer.walks.playlist import build_playlist

        length = getattr(opts, "length", 25)
        cap = getattr(opts, "max_per_artist", None) or self.config["max_per_artist"].get(int)
        library = self.library()
        seeds = self.seed_ids(lib, args)
        try:
            space = library.answering_space(None, seeds=seeds)
            mix = build_playlist(
                library, seeds, length=length, max_per_artist=cap or None, space=space
            )
        except IndexerError as exc:
            raise UserError(str(exc)) from exc
        songs = [entry.song for entry in mix.entries]
        for song in songs:
            item = beets_item(lib, song.path)
            ui.print_(format(item) if item is not None else song.path)
        output = getattr(opts, "output", None)
        if output:
            written = write_m3u8(songs, Path(output))
            ui.print_(f"Wrote {written} ({len(songs)} songs).")
        self.close()

    def print_report(self, report: IndexReport) -> None:
        """One line of counts, and each skipped file with its reason."""
        self._log.info(
            "{} added, {} updated, {} refreshed (audio unchanged), {} moved, {} removed, "
            "{} unchanged, {} skipped",
            report.added,
            report.updated,
            report.refreshed,
            report.moved,
            report.removed,
            report.unchanged,
            len(report.skipped),
        )

    def close(self) -> None:
        """Release the database connections (beets may run more commands in this process)."""
        if self._library is not None:
            self._library.close()
            self._library = None

    # --- events --------------------------------------------------------------------------

    def on_import_task_files(self, session: ImportSession, task: ImportTask) -> None:
        """Remember what a task imported: sent once its files are in place and tags written."""
        for item in task.imported_items():
            self._imported[item.id] = item

    def on_after_write(self, item: Item, path: bytes) -> None:
        """Remember a file whose tags beets wrote (only songs Soundalike holds are refreshed).

        A write to another path (a converted copy, say) is not the item's file: ignored.
        """
        if item.id is not None and os.fsdecode(path) == item_path(item):
            self._written[item.id] = item

    def on_item_moved(self, item: Item, source: bytes, destination: bytes) -> None:
        """Remember a move, to move the row (no analysis: the file is the same)."""
        self._moves.append((os.fsdecode(source), os.fsdecode(destination)))

    def on_item_removed(self, item: Item) -> None:
        """Remember a removal from beets, to remove the song from Soundalike."""
        self._removed.append(item_path(item))

    def on_cli_exit(self, lib: BeetsLibrary) -> None:
        """Apply what the command changed, in one batch: moves, removals, imports, tag writes."""
        if not (self._imported or self._written or self._moves or self._removed):
            return
        library = self.library()
        moved = self.apply_moves(library)
        imported = {item_path(item) for item in self._imported.values()}
        # A re-import removes the old item and imports a new one at the same path: keep it.
        gone = set(self._removed) - imported
        gone_ids = library.song_ids_by_path(gone)
        removed = library.remove_songs(gone_ids.values()) if gone_ids else 0
        written = {i: item for i, item in self._written.items() if i not in self._imported}
        known = library.song_ids_by_path(item_path(item) for item in written.values())
        to_index = [*self._imported.values()]
        to_index += [item for item in written.values() if item_path(item) in known]
        report = self.index_items(to_index, recheck=known)
        report.moved += moved
        report.removed += removed
        self.print_report(report)
        self._imported.clear()
        self._written.clear()
        self._moves.clear()
        self._removed.clear()
        self.close()

    def apply_moves(self, library: Library) -> int:
        """Move the rows of moved files, in the order beets moved them; returns rows moved."""
        ids = library.song_ids_by_path(p for move in self._moves for p in move)
        moved = 0
        for source, destination in self._moves:
            song_id = ids.pop(source, None)
            if song_id is None:
                continue
            stale = ids.pop(destination, None)
            if stale is not None:  # a row for a file that was gone before beets moved here
                library.remove_songs([stale])
            try:
                mtime_ns = Path(destination).stat().st_mtime_ns
            except OSError:
                continue
            library.move_song(song_id, destination, mtime_ns=mtime_ns)
            ids[destination] = song_id
            moved += 1
        return moved


def known_file(item: Item) -> KnownFile:
    """A beets item as a file with known tags: beets' title, artist, album and length."""
    from indexer.audio.file_tags import Tags
    from indexer.ingest.pipeline import KnownFile

    path = Path(item_path(item))
    return KnownFile(
        path=path,
        tags=Tags(
            title=item.title or path.stem,
            artist=item.artist or None,
            album=item.album or None,
            duration_s=float(item.length) if item.length else None,
        ),
    )


def beets_item(lib: BeetsLibrary, path: str) -> Item | None:
    """The beets item whose file is at ``path``, or None when beets does not hold it."""
    return next(iter(lib.items(PathQuery("path", os.fsencode(path)))), None)
