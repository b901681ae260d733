"""The radio's choice: songs near what has been playing and liked, away from what was skipped.

One neighbour query does the work (`recommend_for_seeds`: the seeds' mean, steered away from the
skipped songs by Rocchio's rule, ``not_weight`` as in the API). Its candidates are then held to
the session's rules: nothing from the repeat window, nothing already queued, nothing the player
cannot play, and at most ``max_per_artist`` songs by one artist among the recent and queued
ones (the playlists' `ArtistCap`). When the rules leave too few, the search widens; when the
whole library is spent, the repeat window gives way before the queue is allowed to run dry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from db.models import Song
from indexer.library import Library
from indexer.limits import MAX_IDS
from indexer.radio.listening import Listening
from indexer.recommend.candidates import NEGATIVE_WEIGHT, Context, recommend_for_seeds
from indexer.recommend.rerank import RerankOptions
from indexer.vectors.index import VectorIndex
from indexer.walks.playlist import ArtistCap

# Candidates asked for per song wanted, before widening: the rules drop some.
OVERFETCH = 4


@dataclass(frozen=True)
class Pick:
    """A song to queue and why: its cosine to the query, the seeds and the songs avoided."""

    song: Song
    score: float
    seeds: list[Song]
    avoided: list[Song]
    repeat: bool = False


def pick_songs(
    library: Library,
    listening: Listening,
    *,
    current: int | None,
    queued: Sequence[int],
    count: int,
    max_per_artist: int | None = None,
    negative_weight: float = NEGATIVE_WEIGHT,
    playable: Callable[[Song], bool] = lambda song: True,
    index: VectorIndex | None = None,
    space: str | None = None,
) -> list[Pick]:
    """Up to ``count`` songs to queue after ``queued``, best first (see the module doc).

    Fewer only when the library holds no other playable song; none when there is nothing to
    start from (no current, queued or played song in the library). ``space`` as neighbour
    queries take it: None is the default space, or ``features`` while some songs lack a sound
    embedding (`Library.answering_space`); ``index``, when given, must be that space's.
    """
    if count < 1:
        return []
    known = library.get_songs(
        list(dict.fromkeys([*listening.seeds(current), *listening.skipped, *queued]))
    )
    space = library.answering_space(space, seeds=list(known))
    if index is None:
        index, _ = library.load_index(space=space)
    ctx = Context(library, index, space=space)
    seeds = [i for i in listening.seeds(current) if i in known][:MAX_IDS]
    if not seeds:
        seeds = [i for i in reversed(queued) if i in known][:1]
    if not seeds:
        return []
    negatives = [i for i in listening.negatives(current) if i in known and i not in seeds]
    cap = ArtistCap(max_per_artist)
    window = [*listening.played, *queued]
    for song in library.get_songs(window).values():
        cap.add(song)
    taken: set[int] = {*queued, *seeds}
    if current is not None:
        taken.add(current)
    picks: list[Pick] = []
    seed_songs = [known[i] for i in seeds]
    # First the session's rules in full; then, when the library is spent, repeats of songs
    # played a while ago; last, without steering (negatives that cancel the seeds out).
    for banned, weight, repeat in (
        (listening.recent() | set(listening.skipped), negative_weight, False),
        (set(listening.skipped), negative_weight, True),
        (set(), 0.0, True),
    ):
        k = min(max(count * OVERFETCH, 10), len(index))
        while len(picks) < count and k > 0:
            exclude = frozenset(banned | taken)
            _, found = recommend_for_seeds(
                ctx,
                seeds,
                negatives=negatives[:MAX_IDS] if weight > 0 else [],
                k=k,
                options=RerankOptions(exclude=exclude - set(seeds)),
                negative_weight=weight,
            )
            for neighbour in found.neighbours:
                song = neighbour.song
                if len(picks) == count or song.id in taken or not playable(song):
                    continue
                if not cap.allows(song):
                    continue
                cap.add(song)
                taken.add(song.id)
                avoided = [known[i] for i in negatives] if weight > 0 else []
                picks.append(Pick(song, neighbour.score, seed_songs, avoided, repeat))
            if k >= len(index):
                break
            k = min(k * 4, len(index))
        if len(picks) == count:
            break
    return picks
