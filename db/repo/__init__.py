"""The queries `Library` runs, so SQL lives in one place: ``from db import repo``.

Each module holds one kind of read or write; this package names them all, so `Library` reads
``repo.get_songs(...)`` without caring which module a query lives in:

- `songs`: songs by id or path, as ORM objects or light row views (`SongRow`, `CandidateRow`);
- `listing`: search, the listing's pages (offset or keyset) and counts;
- `files`: the songs as files on disk, what a rescan compares (`FileState`);
- `sound`: which songs have the network's description of a version (backfill, sound space);
- `streams`: every song's ids, features, embeddings or tags in batches (index builds);
- `writes`: bulk inserts and deletes, without ORM objects.

Only `Library` (and its reads) calls these; `tests/test_library_rule.py` checks it.
"""

from db.repo.files import FileState, file_states, song_ids_by_path
from db.repo.listing import (
    ListingKey,
    count_matching,
    count_songs,
    genre_counts,
    list_songs_after,
    list_songs_page,
    search_songs,
)
from db.repo.songs import (
    CandidateRow,
    SongLabel,
    SongPlace,
    SongRow,
    candidate_rows,
    get_song,
    get_song_by_path,
    get_song_rows,
    get_songs,
    song_labels,
    song_places,
)
from db.repo.sound import (
    count_embedded,
    count_lacking_sound,
    embedded_ids,
    files_lacking_sound,
    ids_without_sound,
    lacks_sound,
)
from db.repo.streams import STREAM_BATCH, all_ids, iter_embeddings, iter_features, iter_tag_vectors
from db.repo.writes import delete_songs, insert_songs_bulk

__all__ = [
    "STREAM_BATCH",
    "CandidateRow",
    "FileState",
    "ListingKey",
    "SongLabel",
    "SongPlace",
    "SongRow",
    "all_ids",
    "candidate_rows",
    "count_embedded",
    "count_lacking_sound",
    "count_matching",
    "count_songs",
    "delete_songs",
    "embedded_ids",
    "file_states",
    "files_lacking_sound",
    "genre_counts",
    "get_song",
    "get_song_by_path",
    "get_song_rows",
    "get_songs",
    "ids_without_sound",
    "insert_songs_bulk",
    "iter_embeddings",
    "iter_features",
    "iter_tag_vectors",
    "lacks_sound",
    "list_songs_after",
    "list_songs_page",
    "search_songs",
    "song_ids_by_path",
    "song_labels",
    "song_places",
]
