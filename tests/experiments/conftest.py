"""The experiments are scripts of the repository, not of the installed package: put the repository root
on the import path so ``import experiments`` finds them (the seed fixtures are in tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
