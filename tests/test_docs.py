"""The repository's documentation stands on its own: the generated references match the
services' documents, and every relative link in a Markdown file leads somewhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from parley_devtools import refdocs

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SKIPPED_DIRS = {".venv", ".tools", ".git", ".parley", "node_modules"}


def markdown_files() -> list[Path]:
    """Every Markdown file git knows in the repository."""
    out = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return [ROOT / line for line in out.stdout.splitlines() if line]


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file: GitHub's slugs of its headings, and explicit ids."""
    text = path.read_text()
    out = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """The relative links of one file whose target (file, or heading) does not exist."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        missing_anchor = anchor and resolved.suffix == ".md" and anchor not in anchors(resolved)
        if not resolved.is_relative_to(root) or not resolved.exists() or missing_anchor:
            broken.append(target)
    return broken


def test_generated_references_match_the_services_documents() -> None:
    """docs/api.md and docs/events.md are what the OpenAPI and AsyncAPI documents give now
    (`make docs` regenerates them)."""
    assert refdocs.stale() == []


def test_events_doc_lists_every_subject_an_integrator_may_use() -> None:
    """Each subject CONTRACT's NATS rules let an integrator use has its section in events.md."""
    text = (ROOT / "docs" / "events.md").read_text()
    for subject in (
        "parley.msg.v1.status.{account_id}",
        "parley.msg.v1.inbound.{account_id}",
        "parley.api.v1.messages.send",
        "JS.PARLEY.API.CONSUMER.MSG.NEXT.{stream}.{account_id}",
        "JS.PARLEY.API.CONSUMER.INFO.{stream}.{account_id}",
        "$JS.ACK.{stream}.{account_id}.{ack}",
    ):
        assert f"### `{subject}`" in text


def test_every_relative_link_in_markdown_resolves(tmp_path: Path) -> None:
    """Every relative link (and its #anchor) in every tracked Markdown file points at a file
    inside the repository; the check does catch a missing file, a missing heading, and a
    link that leaves the repository."""
    files = markdown_files()
    assert len(files) > 5
    broken = {str(p.relative_to(ROOT)): b for p in files if (b := broken_links(p))}
    assert broken == {}
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("# Here\n")
    probe = tmp_path / "docs" / "probe.md"
    probe.write_text(
        "[a](here.md) [b](here.md#here) [c](missing.md) [d](here.md#nowhere) "
        "[e](../../outside.md) [f](https://example.com/x)\n"
    )
    (tmp_path.parent / "outside.md").write_text("x")
    assert broken_links(probe, tmp_path / "docs") == [
        "missing.md",
        "here.md#nowhere",
        "../../outside.md",
    ]


def test_no_document_sends_a_reader_outside_the_repository() -> None:
    """No README or doc cites the design documents that live outside this repository."""
    outside = re.compile(r"shared/(design|reference)|CONTRACT(\.md)? (section|§)|\bCONTRACT \d")
    cited = {
        str(p.relative_to(ROOT)): m.group(0)
        for p in markdown_files()
        if (m := outside.search(p.read_text()))
    }
    assert cited == {}
