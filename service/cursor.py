"""Opaque cursors for keyset paging of ``GET /api/songs``.

A cursor is the last song's sort key (artist, title, id) as base64url JSON. Clients pass it
back unchanged; anything that does not decode to such a key is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json

from db.repo import ListingKey
from service.errors import ApiError

# A key holds two tags and an id; anything much longer was not made by `encode`.
MAX_CURSOR_CHARS = 4096


def encode(key: ListingKey) -> str:
    """The cursor that continues after ``key``."""
    raw = json.dumps([key.artist, key.title, key.id], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> ListingKey:
    """The key a cursor stands for; `ApiError` 400 when it is not one of ours."""
    bad = ApiError(400, "bad_parameter", "cursor is not one this service returned")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        artist, title, song_id = json.loads(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise bad from None
    valid = (
        (artist is None or isinstance(artist, str))
        and isinstance(title, str)
        and isinstance(song_id, int)
        and not isinstance(song_id, bool)
        and 0 <= song_id < 2**63
        # PostgreSQL text cannot hold NUL; no tag of ours does either.
        and "\x00" not in (artist or "") + title
    )
    if not valid:
        raise bad
    return ListingKey(artist, title, song_id)
