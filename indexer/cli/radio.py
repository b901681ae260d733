"""The ``soundalike radio`` command: keep an MPD queue filled with songs like what is playing."""

from __future__ import annotations

from pathlib import Path

import click

from indexer.cli.context import library_of
from indexer.errors import IndexerError
from indexer.recommend.candidates import NEGATIVE_WEIGHT


@click.command("radio")
@click.option(
    "--mpd",
    "address",
    default="localhost:6600",
    show_default=True,
    help="MPD's [PASSWORD@]HOST:PORT, or the path of its local socket.",
)
@click.option(
    "--music-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="MPD's music directory as Soundalike sees it (default: what MPD says over a local "
    "socket, else the folder where the library holds MPD's current song).",
)
@click.option(
    "--queue",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Keep at least this many songs queued after the current one.",
)
@click.option(
    "--repeat-window",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="A song played among the last this many does not come back.",
)
@click.option(
    "--max-per-artist",
    type=click.IntRange(min=1),
    help="At most this many songs by one artist among the repeat window and the queue.",
)
@click.option(
    "--not-weight",
    type=click.FloatRange(0.0, 1.0),
    default=NEGATIVE_WEIGHT,
    show_default=True,
    help="How hard skipped songs push the choice away (0: skips are ignored).",
)
@click.pass_context
def radio_cmd(
    ctx: click.Context,
    address: str,
    music_dir: Path | None,
    queue: int,
    repeat_window: int,
    max_per_artist: int | None,
    not_weight: float,
) -> None:
    """Keep MPD's queue filled with songs like what has been playing; skips steer it.

    A song skipped in its first 30 seconds pushes the choice away from it for the rest of the
    session; a song played to the end pulls it closer. Each queued song is printed with why it
    was chosen. Stop with Ctrl-C.
    """
    from indexer.radio.player import MpdPlayer
    from indexer.radio.station import Event, Radio

    def report(event: Event) -> None:
        click.echo(event.text)

    library = library_of(ctx)
    player = MpdPlayer(address)
    radio = Radio(
        library,
        player,
        music_dir=music_dir,
        queue=queue,
        repeat_window=repeat_window,
        max_per_artist=max_per_artist,
        negative_weight=not_weight,
        report=report,
    )
    try:
        player.connect()
        click.echo(f"Following MPD at {player.where}; keeping {queue} songs queued.")
        radio.run()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        player.close()
