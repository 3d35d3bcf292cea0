"""Every relative link in README.md and docs/*.md lands somewhere.

A link to a file must name a file (or folder) of the repository, and a ``#anchor`` into a
markdown file must be one of that file's headings as GitHub slugs them: lowercase,
punctuation and symbols dropped (accents kept), each space a '-', a repeated heading
suffixed -1, -2, ... Links inside code (fenced blocks, inline spans) are text, not links;
links with a scheme (https:, mailto:) are not checked (no network in tests).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`[^`\n]*`")
# [text](target) or ![alt](target "title"); text without brackets, target without spaces.
_LINK = re.compile(r"\[[^\[\]\n]*\]\(([^()\s]+)(?:[ \t]+\"[^\"\n]*\")?\)")
_INLINE_LINK = re.compile(r"\[([^\[\]\n]*)\]\([^()\s]*\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def documents() -> list[Path]:
    """The files this test judges: the entrance and the reference."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) for the lines outside fenced code blocks."""
    out: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (github-slugger, what github.com renders)."""
    text = _INLINE_LINK.sub(r"\1", heading).strip().lower()
    # Kept: letters, marks (accents), numbers, spaces, '-' and '_'; every other character goes.
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LMN")
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor the headings of a markdown text produce, repeats suffixed like GitHub's."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in _prose_lines(text):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link in the prose (code spans and fences skipped)."""
    out: list[tuple[int, str]] = []
    for number, line in _prose_lines(text):
        out.extend((number, target) for target in _LINK.findall(_CODE_SPAN.sub("code", line)))
    return out


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """One message per link of ``path`` that does not resolve inside ``root``."""
    text = path.read_text(encoding="utf-8")
    problems: list[str] = []
    for number, target in links(text):
        if _SCHEME.match(target) or target.startswith("//"):
            continue  # external: not checked here
        where = f"{path.relative_to(root)}:{number}: {target}"
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not resolved.is_relative_to(root.resolve()):
            problems.append(f"{where} (outside the repository)")
            continue
        if not resolved.exists():
            problems.append(f"{where} (no such file)")
            continue
        anchor = unquote(fragment)
        markdown = resolved.suffix == ".md" and resolved.is_file()  # other files' fragments are lines, not headings
        if anchor and markdown and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            problems.append(f"{where} (no heading with anchor #{anchor})")
    return problems


# --- the repository's documents ---------------------------------------------------------


def test_the_documents_are_there() -> None:
    names = {p.name for p in documents()}
    assert {"README.md", "architecture.md", "configuration.md", "operations.md"} <= names
    # The check only means something if it finds links: the README points into docs/.
    assert sum(len(links(p.read_text(encoding="utf-8"))) for p in documents()) > 30


def test_every_relative_link_resolves() -> None:
    problems = [problem for path in documents() for problem in broken_links(path)]
    assert not problems, "links that go nowhere:\n" + "\n".join(problems)


# --- the checker itself ------------------------------------------------------------------


def test_slug_follows_github() -> None:
    assert slug("Portão de avaliação") == "portão-de-avaliação"
    assert slug("Endpoints (`/v1`)") == "endpoints-v1"
    assert slug("Administração: reindexar pela API") == "administração-reindexar-pela-api"
    assert slug("Errors: one table") == "errors-one-table"
    assert slug("A document's path: source → snapshot") == "a-documents-path-source--snapshot"
    assert slug("The wings of assistant/") == "the-wings-of-assistant"
    assert slug("See [the API](http-api.md) now") == "see-the-api-now"
    assert slug("snake_case e 👍 Útil") == "snake_case-e--útil"


def test_repeated_headings_are_numbered_and_code_is_not_a_heading() -> None:
    text = "# Uso\n\n## Uso\n\n```bash\n# não é título\n```\n\n### Uso\n"
    assert anchors(text) == {"uso", "uso-1", "uso-2"}


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "alvo.md").write_text("# Alvo\n\n## Portão de avaliação\n", encoding="utf-8")
    (root / "code.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "fora.md").write_text("# Fora\n", encoding="utf-8")  # exists, but not in the repository
    page = root / "README.md"
    page.write_text(
        "# Início\n\n"
        "[ok](docs/alvo.md) [ok](docs/alvo.md#portão-de-avaliação) [ok](#início) [ok](code.py#L1)\n"
        "[ok, codificado](docs/alvo.md#port%C3%A3o-de-avalia%C3%A7%C3%A3o) [externo](https://example.com/x.md)\n"
        "[arquivo](docs/sumiu.md)\n"
        "[âncora](docs/alvo.md#portao-de-avaliacao)\n"
        "[local](#fim)\n"
        "[fora](../fora.md)\n"
        "`[em código](docs/sumiu.md)`\n"
        "```\n[em bloco](docs/sumiu.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page, root=root) == [
        "README.md:5: docs/sumiu.md (no such file)",
        "README.md:6: docs/alvo.md#portao-de-avaliacao (no heading with anchor #portao-de-avaliacao)",
        "README.md:7: #fim (no heading with anchor #fim)",
        "README.md:8: ../fora.md (outside the repository)",
    ]
    # The same page with the broken lines fixed is clean.
    page.write_text("# Início\n\n[ok](docs/alvo.md#portão-de-avaliação) [ok](#início)\n", encoding="utf-8")
    assert broken_links(page, root=root) == []
