"""`make bench`'s report: targets judged from the figures, ratios beside the ceiling that bounds
each figure, and the table written into docs/performance.md between its markers."""

from __future__ import annotations

from pathlib import Path

import pytest
from parley_devtools.bench import report

FIGURES = {
    "e2e_msgs_per_s": 2_100.0,
    "p99_ms_at_500": 25.0,
    "http_submit_per_s": 6_000.0,
    "max_rss_mb": 120.0,
    "ceiling_aiohttp_post_per_s": 10_000.0,
    "ceiling_aiohttp_submit_per_s": 20_000.0,
}


def test_a_target_is_judged_from_its_figure_or_its_ratio() -> None:
    """An at-least target fails below its bound, an at-most one holds under it, a ratio target
    divides by its ceiling, a strict bound excludes equality, and an absent figure is not run."""
    verdicts = {t.figure: t.met(FIGURES) for t in report.TARGETS}
    assert verdicts["e2e_msgs_per_s"] is False
    assert verdicts["p99_ms_at_500"] is True
    assert verdicts["http_submit_per_s"] is True  # 6,000 / 10,000 >= 0.5
    assert verdicts["max_rss_mb"] is False  # must be below 120
    assert verdicts["nats_submit_per_s"] is None


def test_each_figure_is_shown_beside_the_ceiling_that_bounds_it() -> None:
    """The text table names the ceiling and the ratio; the markdown does too. The HTTP submit
    figure stands beside the like-with-like ceiling (the same load client, a bare server) while
    its target keeps the ratio issue 16 names."""
    text = report.table(FIGURES)
    (line,) = [x for x in text.splitlines() if x.startswith("http_submit_per_s")]
    assert "0.30" in line
    assert "ceiling_aiohttp_submit_per_s" in line
    md = report.markdown(FIGURES, {"cores": "2", "cpu_model": "Test CPU"}, "today")
    assert "| `http_submit_per_s` | 6,000 | 0.30 | `ceiling_aiohttp_submit_per_s` |" in md
    assert "| `http_submit_per_s / ceiling_aiohttp_post_per_s >= 0.5` | 0.60 | met |" in md
    assert "2 cores (Test CPU)" in md
    assert "| `e2e_msgs_per_s >= 5,000` | 2,100 | NOT met |" in md


def test_the_table_replaces_only_the_marked_section(tmp_path: Path) -> None:
    """What stands between the markers is replaced (twice in a row gives one section); the
    text around them stays."""
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Before\n\n{report.BEGIN}\nold figures\n{report.END}\n\nAfter\n")
    report.write_section(doc, "new table")
    report.write_section(doc, "newer table")
    text = doc.read_text()
    assert text == f"# Before\n\n{report.BEGIN}\nnewer table\n{report.END}\n\nAfter\n"


def test_a_document_without_markers_is_refused(tmp_path: Path) -> None:
    """A run never writes its figures nowhere: no markers, a ValueError naming the file."""
    doc = tmp_path / "performance.md"
    doc.write_text("# No section\n")
    with pytest.raises(ValueError, match=r"performance\.md"):
        report.write_section(doc, "table")


def test_the_performance_document_has_the_section() -> None:
    """docs/performance.md carries the markers `make bench` writes between."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "performance.md"
    text = doc.read_text()
    assert text.index(report.BEGIN) < text.index(report.END)


def test_the_machine_is_described() -> None:
    """cores, CPU model, Python and nats-server version are read from this host."""
    host = report.machine()
    assert int(host["cores"]) >= 1
    assert host["python"].count(".") == 2
    assert "nats-server" in host["nats_server"]
