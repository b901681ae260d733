"""MPD as the radio sees it: who is playing what, how far in, what comes next; add a song.

A thin layer over python-mpd2's client, so the radio's decisions (`station`) never speak the
protocol. Songs are named as MPD names them, by their path relative to MPD's music directory.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpd

from indexer.errors import IndexerError

DEFAULT_PORT = 6600


class PlayerError(IndexerError):
    """MPD could not be reached or refused a command."""


@dataclass(frozen=True)
class PlayerStatus:
    """The player now: state (play, pause, stop), the current song and what follows it."""

    state: str
    song_id: str | None
    uri: str | None
    elapsed_s: float
    duration_s: float | None
    upcoming: list[str]


def parse_address(address: str) -> tuple[str, int | None, str | None]:
    """``[PASSWORD@]HOST[:PORT]`` or a socket path as ``(host, port, password)``.

    MPD's own clients read ``MPD_HOST`` the same way: a password before ``@``, and a path (or an
    abstract socket starting with ``@``) instead of a host for a local socket.
    """
    password = None
    if "@" in address[1:]:
        password, address = address.rsplit("@", 1)
    if address.startswith(("/", "@")):
        return address, None, password
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port:
        return address.strip("[]"), DEFAULT_PORT, password
    if not port.isdigit():
        raise PlayerError(f"not an MPD address (HOST:PORT): {address!r}")
    return host.strip("[]") or "localhost", int(port), password


class MpdPlayer:
    """A connection to one MPD; reconnects when MPD dropped it.

    ``wait_timeout_s`` bounds each wait for a change (None: wait as long as it takes), so a
    caller can look up between changes.
    """

    def __init__(self, address: str, *, wait_timeout_s: float | None = None) -> None:
        self.host, self.port, self._password = parse_address(address)
        self.wait_timeout_s = wait_timeout_s
        self._client = mpd.MPDClient()
        self._connected = False

    def connect(self) -> None:
        """Open the connection (and log in when a password was given)."""
        if self._connected:
            return
        self._client = mpd.MPDClient()
        self._client.timeout = 30
        self._client.idletimeout = self.wait_timeout_s
        try:
            self._client.connect(self.host, self.port)
            if self._password:
                self._client.password(self._password)
        except (OSError, mpd.MPDError) as exc:
            self._client = mpd.MPDClient()
            raise PlayerError(f"cannot talk to MPD at {self.where}: {exc}") from exc
        self._connected = True

    @property
    def where(self) -> str:
        """The address, for messages."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def close(self) -> None:
        """Close the connection."""
        if self._connected:
            try:
                self._client.disconnect()
            finally:
                self._connected = False

    def music_directory(self) -> str | None:
        """MPD's music directory when MPD tells (it does only over a local socket)."""
        self.connect()
        try:
            return self._client.config() or None
        except mpd.CommandError:
            return None

    def status(self) -> PlayerStatus:
        """Where the player is now."""
        self.connect()
        try:
            status = self._client.status()
            position = int(status["song"]) if "song" in status else None
            upcoming: list[str] = []
            uri = None
            if position is not None:
                songs = self._client.playlistinfo(f"{position}:")
                uri = songs[0]["file"] if songs else None
                upcoming = [song["file"] for song in songs[1:]]
            else:
                upcoming = [song["file"] for song in self._client.playlistinfo()]
        except mpd.ConnectionError as exc:
            self._connected = False
            raise PlayerError(f"MPD at {self.where} closed the connection: {exc}") from exc
        duration = status.get("duration")
        return PlayerStatus(
            state=status.get("state", "stop"),
            song_id=status.get("songid"),
            uri=uri,
            elapsed_s=float(status.get("elapsed", 0.0)),
            duration_s=float(duration) if duration else None,
            upcoming=upcoming,
        )

    def add(self, uri: str) -> bool:
        """Append a song to the queue; False when MPD does not know that file."""
        self.connect()
        try:
            self._client.add(uri)
        except mpd.CommandError:
            return False
        return True

    def wait(self) -> list[str]:
        """Block until the player or the queue changes; the subsystems that changed.

        An empty list when ``wait_timeout_s`` passed first (the connection is then reopened:
        MPD's idle cannot be abandoned half-read).
        """
        self.connect()
        try:
            return list(self._client.idle("player", "playlist"))
        except (TimeoutError, mpd.ConnectionError):
            self._reset()
            return []

    def _reset(self) -> None:
        try:
            self._client.disconnect()
        except (OSError, mpd.MPDError):
            pass
        self._connected = False
