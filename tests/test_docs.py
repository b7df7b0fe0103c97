"""README.md and docs/: their measured numbers are what the committed data renders, their links
resolve, and no measurement is written by hand outside a generated block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlpbench import docs

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250

# A measured quantity: a duration, a size or a ratio ("4.5 ms", "590 MB", "8.1x"). Targets and
# limits ("at most 12x", "within 30 s") are not measurements and are allowed by the words
# before them.
MEASURED = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s?(?:ms|µs|s|min|KiB|MiB|GiB|KB|MB|GB|x)\b")
LIMIT_WORDS = ("at least", "at most", "within", "more than", "less than", "every", "over",
               "target", "under", "limit")


def _prose(text: str) -> str:
    """The text outside generated blocks and code fences."""
    text = docs.BLOCK.sub("", text)
    return re.sub(r"```.*?```", "", text, flags=re.DOTALL)


def test_generated_blocks_are_what_the_committed_data_renders():
    assert docs.stale(REPO) == []


def test_every_document_has_its_blocks_filled():
    bodies = {m["name"]: m["body"] for path in docs.documents(REPO)
              for m in docs.BLOCK.finditer(path.read_text())}
    assert set(bodies) == set(docs.BLOCKS)
    assert all(body.strip() for body in bodies.values())


def test_readme_is_a_front_page():
    assert len((REPO / "README.md").read_text().splitlines()) <= README_MAX_LINES


@pytest.mark.parametrize("path", docs.documents(REPO), ids=lambda p: p.name)
def test_links_resolve(path):
    targets = re.findall(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)", path.read_text())
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "a page without links to the rest"
    missing = [t for t in local if not (path.parent / t).exists()]
    assert missing == []


@pytest.mark.parametrize("path", docs.documents(REPO), ids=lambda p: p.name)
def test_no_measurement_outside_generated_blocks(path):
    prose = _prose(path.read_text())
    found = []
    for match in MEASURED.finditer(prose):
        before = prose[max(0, match.start() - 24):match.start()].lower()
        if not any(word in before for word in LIMIT_WORDS):
            found.append(prose[max(0, match.start() - 30):match.end()].replace("\n", " "))
    assert found == []


def test_a_changed_number_is_caught(tmp_path):
    """The check compares rendered text: a hand-edited figure inside a block is stale."""
    readme = (REPO / "README.md").read_text()
    match = next(docs.BLOCK.finditer(readme))
    edited = readme.replace(match["body"], match["body"].replace("x", "y", 1), 1)
    assert docs.render_text(edited, docs.Reference(REPO / "results" / "reference")) == readme
    assert edited != readme


def test_unknown_block_names_are_errors():
    text = "<!-- generated: nope (python -m mlpbench.docs) -->\n<!-- end: nope -->"
    with pytest.raises(KeyError, match="nope"):
        docs.render_text(text, docs.Reference(REPO / "results" / "reference"))
