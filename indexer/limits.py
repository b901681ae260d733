"""How much one request may ask for: the limits the HTTP API and the command line share.

One set, declared here, so that ``soundalike path --steps`` and ``GET /api/path?steps=`` refuse
the same values. The limits are the ones a listener would expect of a music tool: up to
`MAX_K` neighbours, caps of at most `MAX_K` songs per artist or album (a larger cap never
binds), tempi in 0–1000 BPM, durations up to `MAX_DURATION_S`, at most `MAX_IDS` song ids per
list, playlists and pages of at most 500 songs, paths of at most 100 moves. Larger answers are
slow to build and no longer useful to read: a longer playlist is two requests, a longer list is
the next page.
"""

from __future__ import annotations

MAX_K = 100
"""Neighbours per query, and the largest per-artist or per-album cap."""
MAX_IDS = 100
"""Song ids in one list (seeds, songs to avoid)."""
MAX_TEMPO_BPM = 1000.0
MAX_DURATION_S = 1e6
"""About eleven days: far longer than any track, so the bound only refuses nonsense."""
MAX_PAGE = 500
"""Songs in one page of a listing."""
MAX_PATH_STEPS = 100
"""Moves in one path from a song to another (songs - 1)."""
MAX_PLAYLIST_LENGTH = 500
"""Songs in one playlist, seeds included."""
