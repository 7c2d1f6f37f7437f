"""The documentation holds together: every relative link in README.md and
docs/*.md names a file of this repository, and every ``#anchor`` a heading
of the page it points at (GitHub's heading slugs)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, inline markup and
    punctuation dropped (``-`` and ``_`` kept), spaces turned into ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)      # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of ``page``, repeated headings numbered as GitHub does."""
    seen: dict[str, int] = {}
    result = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def relative_links(page: Path) -> list[str]:
    """Link targets of ``page`` that are not URLs (no scheme), in order."""
    targets = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                targets.append(target)
    return targets


def test_there_are_pages_and_links():
    assert len(PAGES) > 5
    assert sum(len(relative_links(page)) for page in PAGES) > 20


def test_the_readme_links_every_docs_page():
    linked = {(ROOT / target.split("#")[0]).resolve() for target in relative_links(ROOT / "README.md")}
    index = ROOT / "docs" / "index.md"
    linked |= {(index.parent / target.split("#")[0]).resolve() for target in relative_links(index)}
    missing = [page.name for page in PAGES[1:] if page.resolve() not in linked]
    assert not missing, f"docs pages linked from neither README.md nor docs/index.md: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_slugs_follow_github():
    assert slug("`userpilot-mock serve`") == "userpilot-mock-serve"
    assert slug("Installing it in another project") == "installing-it-in-another-project"
    assert slug("Known deviations (`--spec vendor`)") == "known-deviations---spec-vendor"
    assert slug("Row rules (vendor pages import/event-schema and import/row-validation)") == \
        "row-rules-vendor-pages-importevent-schema-and-importrow-validation"


# --- citations of docs pages from the code ------------------------------------

#: Where the code, the specs and the data cite documentation pages.
CITING = ["mock_server", "contract_tests", "openapi", "fixtures", "tests", "bench", "tools", "docs",
          "examples", "README.md", "pyproject.toml", "schemathesis.toml"]
CITING_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".txt", ".cfg"}
#: ``docs/<page>.md, "<Section>"``, also broken across comment or YAML lines,
#: also inside a Python string (``\\"<Section>\\"``).
CITATION = re.compile(r'docs/([\w-]+\.md),\s+\\?"([^"\\]+)\\?"')
#: Citations of places that no longer hold the text: the shared DOMAIN.md
#: (now docs/domain.md) and README sections (now docs/ pages).
STALE = re.compile(r'(?<![\w/])DOMAIN\.md|README(?:,|:)\s+\\?"')
#: Copied from the vendor byte for byte (tests/test_spec.py): its citation stays.
VENDOR_COPIES = {"openapi/vendor-jobs-operations.yaml"}


def citing_files() -> list[Path]:
    """Every text file in which the project cites its documentation."""
    files = []
    for name in CITING:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in CITING_SUFFIXES
                      and "__pycache__" not in p.parts and "results" not in p.parts]
    return files


def flattened(text: str) -> str:
    """``text`` as one line: each line's indentation and comment marker
    (``#``, ``#:``) dropped, so a citation broken across lines reads whole."""
    return " ".join(re.sub(r"^\s*(#:?\s?)?", "", line) for line in text.splitlines())


def citations(text: str) -> list[tuple[str, str]]:
    """``(page, section)`` of every ``docs/<page>.md, "<Section>"`` in ``text``."""
    return [(page, " ".join(section.split())) for page, section in CITATION.findall(flattened(text))]


def headings(page: Path) -> set[str]:
    """The text of every heading of ``page``, lower case."""
    found = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            found.add(match.group(2).strip().lower())
    return found


def test_citations_are_found_across_lines():
    assert citations('x (docs/domain.md, "Real\n#: response details") y') == [("domain.md", "Real response details")]
    assert citations(r'"pages (docs/domain.md, \"The surface\")"') == [("domain.md", "The surface")]
    assert citations('    (docs/domain.md,\n      "Defects": the example') == [("domain.md", "Defects")]


def test_every_docs_citation_names_an_existing_section():
    broken, count = [], 0
    for path in citing_files():
        for page, section in citations(path.read_text(encoding="utf-8", errors="replace")):
            if path.name == "test_docs.py":
                continue
            count += 1
            target = ROOT / "docs" / page
            if not target.exists():
                broken.append(f"{path.relative_to(ROOT)}: docs/{page} does not exist")
            elif section.lower() not in headings(target):
                broken.append(f"{path.relative_to(ROOT)}: docs/{page} has no section {section!r}")
    assert count >= 15, f"only {count} citations found: is the pattern still right?"
    assert not broken, "\n".join(broken)


def test_no_citation_of_a_moved_text_is_left():
    stale = []
    for path in citing_files():
        relative = str(path.relative_to(ROOT))
        if path.name == "test_docs.py" or relative in VENDOR_COPIES:
            continue
        for match in STALE.finditer(flattened(path.read_text(encoding="utf-8", errors="replace"))):
            stale.append(f"{relative}: {match.group(0)!r}")
    assert not stale, "cite docs/domain.md or a docs/ page instead:\n" + "\n".join(stale)
