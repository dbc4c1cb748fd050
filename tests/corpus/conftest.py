"""Shared fixtures for the corpus tests: the seed document, the shared lawrefbook corpus, a CJK font."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from policyqa.corpus.model import ParsedDocument
from policyqa.text import fold

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "corpus" / "samples" / "000_a0c1336e9725a78b.txt"
SHARED = REPO / ".." / "shared"
LAWREFBOOK = SHARED / "corpus" / "lawrefbook"
STARD = SHARED / "eval" / "stard-train.jsonl"


@pytest.fixture(scope="session")
def lawrefbook() -> Path:
    if not LAWREFBOOK.is_dir():
        pytest.skip(f"shared lawrefbook corpus not found at {LAWREFBOOK}")
    return LAWREFBOOK


@pytest.fixture(scope="session")
def cjk_font() -> Path:
    """A font file with Chinese glyphs (fonts-wqy-microhei or fonts-noto-cjk)."""
    try:
        listing = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False
        ).stdout
    except FileNotFoundError:
        listing = ""
    fonts = sorted(Path(line.split(":")[0]) for line in listing.splitlines() if line.strip())
    fonts = [font for font in fonts if font.suffix.lower() in (".ttf", ".ttc", ".otf")]
    if not fonts:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-microhei) — cannot make a Chinese PDF")
    return fonts[0]


@pytest.fixture(scope="session")
def seed_path() -> Path:
    return SEED


@pytest.fixture(scope="session")
def stard_path(lawrefbook) -> Path:
    if not STARD.is_file():
        pytest.skip(f"STARD questions not found at {STARD}")
    return STARD


@pytest.fixture(scope="session")
def uncovered():
    """The coverage check: ``uncovered(parsed)`` lists body lines that no clause and no path heading holds."""
    return uncovered_text


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", fold(text))


def uncovered_text(parsed: ParsedDocument) -> list[str]:
    """Lines of the body with characters outside every clause that are not headings named in clause paths."""
    text = parsed.document.text
    covered = bytearray(len(text))
    for clause in parsed.clauses:
        covered[clause.start : clause.end] = b"\x01" * (clause.end - clause.start)
    labels = {_squash(label) for clause in parsed.clauses for label in clause.path}
    lost = []
    offset = 0
    for line in text.split("\n"):
        start, offset = offset, offset + len(line) + 1
        outside = "".join(ch for i, ch in enumerate(line) if not covered[start + i] and not ch.isspace())
        if outside and _squash(line) not in labels:
            lost.append(line)
    return lost
