"""The docs stay true to the code: the CLI reference is what ``--help`` prints, every relative
link leads somewhere, and the README stays a front door rather than a manual."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from indexer.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CLI_REFERENCE = ROOT / "docs" / "cli.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def run_cog_check(path: Path) -> subprocess.CompletedProcess[str]:
    """``cog --check`` on one file, run as ``make docs`` runs cog: a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def command_paths(
    command: click.Command, name: str, parent: click.Context | None = None
) -> list[str]:
    """``soundalike``, then every command below it, as ``--help`` names them."""
    ctx = command.make_context(name, [], parent=parent, resilient_parsing=True)
    paths = [ctx.command_path]
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            paths.extend(command_paths(command.get_command(ctx, sub_name), sub_name, ctx))
    return paths


def prose(text: str) -> str:
    """The text a reader sees as prose: code blocks, code spans and HTML comments removed.

    Code spans go because ``[x](y)`` inside one is not a link; HTML comments hold the cog
    generator, whose Python is neither links nor headings.
    """
    return CODE_SPAN.sub("", FENCE.sub("", HTML_COMMENT.sub("", text)))


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings, with ``-1``, ``-2`` for repeats."""
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", HTML_COMMENT.sub("", text))):
        words = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", words).replace(" ", "-")
        anchor, repeat = slug, 0
        while anchor in anchors:
            repeat += 1
            anchor = f"{slug}-{repeat}"
        anchors.add(anchor)
    return anchors


def relative_links(text: str) -> list[str]:
    """Targets of the page's links and images that point into the repository."""
    body = prose(text)
    targets = MARKDOWN_LINK.findall(body) + HTML_LINK.findall(body)
    return [target for target in targets if not SCHEME.match(target)]


def test_readme_is_a_front_door() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines; move detail to a page in docs/"
    )


def test_cli_reference_matches_help() -> None:
    result = run_cog_check(CLI_REFERENCE)
    assert result.returncode == 0, (
        "docs/cli.md differs from what --help prints: run `make docs`\n"
        + result.stdout
        + result.stderr
    )


def test_cli_reference_check_catches_a_changed_option(tmp_path: Path) -> None:
    text = CLI_REFERENCE.read_text(encoding="utf-8")
    help_line = "Show this message and exit."
    assert help_line in text
    stale = tmp_path / "cli.md"
    stale.write_text(text.replace(help_line, "Show this message.", 1), encoding="utf-8")
    assert run_cog_check(stale).returncode != 0


def test_cli_reference_documents_every_command() -> None:
    text = CLI_REFERENCE.read_text(encoding="utf-8")
    paths = command_paths(main, "soundalike")
    assert "soundalike similar" in paths
    missing = [path for path in paths if f"\n### {path}\n" not in text]
    assert not missing, f"docs/cli.md has no section for {missing}: run `make docs`"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "## Similarity and genre quality (`soundalike evaluate`)",
            "similarity-and-genre-quality-soundalike-evaluate",
        ),
        ("### Start-up, search, paging and the map", "start-up-search-paging-and-the-map"),
        ("## Measured\n\n## Measured", "measured-1"),
        ("```sh\n# not a heading\n```", None),
    ],
)
def test_heading_anchors_follow_github(text: str, expected: str | None) -> None:
    anchors = heading_anchors(text)
    if expected is None:
        assert anchors == set()
    else:
        assert expected in anchors


def test_relative_links_skip_code_and_addresses() -> None:
    text = (
        '[a](docs/a.md) ![b](docs/b.png "title") <img src="c.png" width="9">\n'
        "`[not](a-link.md)` [site](https://example.org) [mail](mailto:x@example.org)\n"
        "```\n[also not](code.md)\n```\n"
    )
    assert relative_links(text) == ["docs/a.md", "docs/b.png", "c.png"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page.read_text(encoding="utf-8")):
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md":
            if anchor not in heading_anchors(destination.read_text(encoding="utf-8")):
                broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for target in relative_links(README.read_text(encoding="utf-8"))
    }
    pages = {page.resolve() for page in PAGES if page != README}
    unlinked = sorted(str(page.relative_to(ROOT)) for page in pages - linked)
    assert not unlinked, f"README.md links to none of {unlinked}"
