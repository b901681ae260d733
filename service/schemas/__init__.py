"""What every JSON API route takes and answers, declared once, one module per URL area.

Request schemas (``*Query``, ``AddSongs``, ``Upload``, ``PlaylistRequest``) validate each
request before its view runs, and flask-smorest writes them into the OpenAPI document
(``GET /api/openapi.json``) with their limits. The neighbour routes' parameters come from
`indexer.recommend.options`, which the command line builds its options from too.

Answer schemas describe the JSON the views build. The views build it as plain dicts, which
keeps marshmallow's per-object dumping off the neighbour routes (the service's hot path); the
schemathesis test checks every answer it provokes against these schemas, and an answer may
hold no key they do not declare.

- `common`: the error body and the shapes several areas share (a song's heading, the space);
- `songs`: ``/api/songs``, ``/api/health``, ``/api/model``;
- `similar`: the neighbour routes (``/api/songs/<id>/similar``, ``/api/similar``);
- `walks`: ``/api/path`` and ``/api/playlists``;
- `library`: ``/api/library/stats``, ``/api/library/map`` and ``/api/tags``.
"""
