"""The neighbour query's parameters: declared once, the same limits over HTTP and in the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from indexer.cli import main
from indexer.cli.similar import similar_cmd
from indexer.limits import MAX_IDS, MAX_K, MAX_PAGE, MAX_PATH_STEPS, MAX_PLAYLIST_LENGTH
from indexer.model.tags import TAG_VOCABULARY
from indexer.recommend.options import RERANK, SEEDS, SPACE, K, Parameter
from indexer.settings import Settings

EVERY = (K, SPACE, *SEEDS, *RERANK)
AUTH = {"Authorization": "Bearer s3cret"}


def documented(app: Flask, path: str) -> dict[str, dict[str, Any]]:
    """The query parameters the OpenAPI document lists for ``GET path``, by name."""
    spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return {p["name"]: p for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"}


def similar(runner: CliRunner, settings: Settings, *args: str) -> Result:
    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    return runner.invoke(main, ["similar", *args], env=env, catch_exceptions=False)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_document_and_command_line_take_the_declared_limits(app: Flask) -> None:
    assert set(documented(app, "/api/similar")) == {"seed", "tags"} | {p.name for p in EVERY}
    assert set(documented(app, "/api/songs/{song_id}/similar")) == {
        p.name for p in (K, SPACE, *RERANK)
    }
    assert documented(app, "/api/path")["space"]["schema"]["enum"] == ["sound", "features"]
    http = documented(app, "/api/similar")
    cli = {option.name: option for option in similar_cmd.params}
    checked: list[Parameter] = []
    for parameter in EVERY:
        schema, option = http[parameter.name]["schema"], cli[parameter.key]
        assert option.opts == [parameter.option]
        if parameter.kind in ("int", "number"):
            assert (schema["minimum"], schema["maximum"]) == (parameter.low, parameter.high)
            assert (option.type.min, option.type.max) == (parameter.low, parameter.high)
        elif parameter.kind == "ids":
            assert schema["maxItems"] == MAX_IDS
            assert schema["items"]["minimum"] == option.type.min == 0
            assert option.multiple
        elif parameter.kind == "choice":
            assert schema["enum"] == list(option.type.choices) == list(parameter.choices)
        elif parameter.kind == "flag":
            assert schema["type"] == "boolean"
            assert option.is_flag
        elif parameter.kind == "tags":
            assert schema["items"]["enum"] == list(TAG_VOCABULARY)
            assert option.multiple
        if parameter.default not in (None, ()):
            assert schema["default"] == option.default == parameter.default
        checked.append(parameter)
    assert len(checked) == len(EVERY) == 19
    assert http["tag"]["schema"]["items"]["enum"] == list(TAG_VOCABULARY)


# (option, the largest value both accept, one just past it)
EDGES = [
    ("k", "100", "101"),
    ("max_per_artist", "100", "101"),
    ("max_per_album", "100", "101"),
    ("tempo_min_bpm", "1000", "1000.5"),
    ("tempo_max_bpm", "0", "-1"),
    ("duration_max_s", "1000000", "1e7"),
    ("mmr_lambda", "1", "1.01"),
    ("not_weight", "0", "-0.1"),
    ("tempo_min_bpm", "0", "nan"),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("name", "inside", "outside"), EDGES)
def test_http_and_command_line_refuse_the_same_values(
    client: FlaskClient,
    runner: CliRunner,
    settings: Settings,
    name: str,
    inside: str,
    outside: str,
) -> None:
    # The library is empty: a value that passes validation reaches the lookup of song 1 and
    # fails there instead (404; exit status 1), a refused one never does (400; usage error 2).
    flag = next(p for p in EVERY if p.name == name).option
    refused = client.get(f"/api/similar?seed=1&{name}={outside}")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "bad_parameter"
    assert name in refused.get_json()["message"]
    assert client.get(f"/api/similar?seed=1&{name}={inside}").status_code == 404
    assert similar(runner, settings, "1", flag, outside).exit_code == 2
    assert similar(runner, settings, "1", flag, inside).exit_code == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_both_refuse_a_genre_the_model_does_not_know(
    client: FlaskClient, runner: CliRunner, settings: Settings
) -> None:
    assert client.get("/api/similar?seed=1&genre=polka").status_code == 400
    assert client.get("/api/similar?seed=1&genre=rock").status_code == 404
    unknown = similar(runner, settings, "1", "--genre", "polka")
    assert unknown.exit_code == 2
    assert "unknown genre 'polka'" in unknown.output
    assert similar(runner, settings, "1", "--genre", "uncertain").exit_code == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_both_refuse_a_tag_the_networks_do_not_know(
    client: FlaskClient, runner: CliRunner, settings: Settings
) -> None:
    refused = client.get("/api/similar?seed=1&tag=rock,polka")
    assert refused.status_code == 400
    assert "unknown tag 'polka'" in refused.get_json()["message"]
    assert "GET /api/tags" in refused.get_json()["message"]
    assert client.get("/api/similar?seed=1&tag=Rock&tag=female%20vocalists").status_code == 404
    unknown = similar(runner, settings, "1", "--tag", "polka")
    assert unknown.exit_code == 2
    assert "unknown tag 'polka'" in unknown.output
    assert "soundalike tags" in unknown.output
    assert similar(runner, settings, "1", "--tag", "Rock", "--tag", "chill,sad").exit_code == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_both_take_at_most_the_declared_number_of_ids(
    client: FlaskClient, runner: CliRunner, settings: Settings
) -> None:
    ids = [str(i) for i in range(MAX_IDS + 1)]
    response = client.get(f"/api/similar?seed=1&exclude={','.join(ids)}")
    assert response.status_code == 400
    assert client.get(f"/api/similar?seed=1&exclude={','.join(ids[1:])}").status_code == 404
    options = [arg for song_id in ids for arg in ("--exclude", song_id)]
    assert similar(runner, settings, "1", *options).exit_code == 2
    assert similar(runner, settings, "1", *options[2:]).exit_code == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        # A blank value is an absent one; only a blank choice of direction is refused.
        ("/api/songs?limit=&q=&cursor=", 200, None),
        ("/api/similar?seed=1&k=&genre=&mode=&dedupe=", 404, "no song with id 1"),
        ("/api/path?from=1&to=2&steps=", 404, "no song with id 1"),
        ("/api/path?from=1&to=2&direction=", 400, "direction must be one of"),
        # Ids repeat the parameter or are separated by commas; flags ignore case.
        ("/api/similar?seed=7,8&seed=9", 404, "no song with id 7"),
        ("/api/similar?seed=1&dedupe=TRUE&explain=Yes&hubness=0", 404, "no song with id 1"),
        ("/api/similar?seed=", 400, "give at least one seed"),
        ("/api/similar?seed=1&not=a", 400, "not must be song ids"),
        ("/api/songs/1/similar?k=0", 400, "k must be between 1 and 100"),
        ("/api/songs/1/similar?mmr_lambda=inf", 400, "mmr_lambda must be"),
        ("/api/songs?offset=2&cursor=abc", 400, "use either cursor or offset, not both"),
        ("/api/path?to=2", 400, "from is required"),
        # Every neighbour route takes the space, one of the declared ones.
        ("/api/songs/1/similar?space=timbre", 400, "space must be one of sound, features"),
        ("/api/similar?seed=1&space=Sound", 400, "space must be one of sound, features"),
        ("/api/path?from=1&to=2&space=x", 400, "space must be one of sound, features"),
        ("/api/similar?seed=1&space=features", 404, "no song with id 1"),
        ("/api/path?from=1&to=2&space=sound", 404, "no song with id 1"),
    ],
)
def test_query_strings_read_the_same_way_on_every_route(
    client: FlaskClient, url: str, status: int, message: str | None
) -> None:
    response = client.get(url)
    assert response.status_code == status, response.get_json()
    if message is not None:
        assert message in response.get_json()["message"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        ({"data": "{not json", "content_type": "application/json"}, AUTH, 400, "bad_body"),
        ({"json": {"paths": []}}, AUTH, 400, "bad_body"),
        ({"json": {"paths": [3]}}, AUTH, 400, "bad_body"),
        ({"data": "paths=/x", "content_type": "text/plain"}, AUTH, 400, "bad_body"),
        # The token is checked before the body is read.
        ({"json": {"paths": []}}, {}, 401, "unauthorized"),
    ],
)
def test_a_bad_body_is_a_400_after_the_token_check(
    client: FlaskClient, body: dict[str, Any], headers: dict[str, str], status: int, error: str
) -> None:
    response = client.post("/api/songs", headers=headers, **body)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    if error == "bad_body" and "json" in body:
        assert response.get_json()["message"] == 'send JSON {"paths": ["/music/a.flac", ...]}'


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("command", ["similar", "playlist", "path"])
def test_every_neighbour_command_takes_the_declared_spaces(
    runner: CliRunner, settings: Settings, command: str
) -> None:
    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    songs = ["1", "2"] if command == "path" else ["1"]
    refused = runner.invoke(main, [command, *songs, "--space", "timbre"], env=env)
    assert refused.exit_code == 2
    assert "'timbre' is not one of 'sound', 'features'" in refused.output
    # A known space passes the check and reaches the lookup of song 1, which is not there.
    known = runner.invoke(main, [command, *songs, "--space", "features"], env=env)
    assert known.exit_code == 1
    assert "no song with id or path '1'" in known.output


# (command and its arguments, option, HTTP request taking the same value as {}, the limit)
OTHER_EDGES = [
    (["songs"], "--limit", ("get", "/api/songs?limit={}"), MAX_PAGE),
    (["path", "1", "2"], "--steps", ("get", "/api/path?from=1&to=2&steps={}"), MAX_PATH_STEPS),
    (["playlist", "1"], "--length", ("post", {"seeds": [1], "length": "{}"}), MAX_PLAYLIST_LENGTH),
    (
        ["playlist", "1"],
        "--max-per-artist",
        ("post", {"seeds": [1], "max_per_artist": "{}"}),
        MAX_K,
    ),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("command", "flag", "request_", "limit"), OTHER_EDGES)
def test_listings_and_walks_share_their_limits(
    client: FlaskClient,
    runner: CliRunner,
    settings: Settings,
    command: list[str],
    flag: str,
    request_: tuple[str, Any],
    limit: int,
) -> None:
    env = {"SOUNDALIKE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}

    def cli(value: int) -> int:
        return runner.invoke(main, [*command, flag, str(value)], env=env).exit_code

    def http(value: int) -> int:
        method, template = request_
        if method == "get":
            return client.get(template.format(value)).status_code
        body = {key: (value if item == "{}" else item) for key, item in template.items()}
        return client.post("/api/playlists", json=body, headers=AUTH).status_code

    # The library is empty: a value inside the limit gets past validation (and finds no song,
    # or an empty listing), one past it is refused by both (HTTP 400, usage error 2).
    assert http(limit + 1) == 400
    assert cli(limit + 1) == 2
    assert http(limit) != 400
    assert cli(limit) != 2
