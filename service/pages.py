"""The web page: search the library, open a song, listen, and find what sounds like it."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    """The single-page front end; it talks to the JSON API."""
    return render_template("index.html")
