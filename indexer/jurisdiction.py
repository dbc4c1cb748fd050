"""Jurisdiction in ranking: a local regulation answers questions about its own place.

A question that names no place is answered from national documents first; one that names 深圳 from 深圳's
documents and national ones. Documents of other places are not filtered out, they step back by a fixed
amount of fused score, so a local clause that matches clearly better still comes first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from policyqa.indexer.fusion import fusion_from_settings
from policyqa.indexer.records import Ranking, SearchRequest
from policyqa.text import fold

if TYPE_CHECKING:
    from policyqa.indexer.catalogue import Catalogue
    from policyqa.indexer.settings import IndexSettings

Item = TypeVar("Item", bound=Hashable)

_PLACE_ENDING = re.compile(r"(?:省|市|自治区|特别行政区|自治州|自治县|县|新区)$")


def region_names(region: str) -> tuple[str, ...]:
    """How a question may name ``region``: 郑州市 → (郑州市, 郑州); 深圳 → (深圳,)."""
    short = _PLACE_ENDING.sub("", region)
    return (region, short) if short != region and len(short) >= 2 else (region,)


def same_region(a: str, b: str) -> bool:
    """Whether two region names mean the same place: 江苏 = 江苏省, 郑州 = 郑州市, 鄭州市 = 郑州市."""
    return place_key(a) == place_key(b)


@lru_cache(maxsize=4096)  # a filtered search compares every document's region with the filter's
def place_key(region: str) -> str:
    return fold(region_names(region)[-1])


def named_regions(query: str, regions: Iterable[str]) -> frozenset[str]:
    """The ``regions`` that ``query`` names, in full or without 省/市/县 (traditional characters too)."""
    folded = fold(query)
    return frozenset(
        region for region in regions if any(fold(name) in folded for name in region_names(region))
    )


def step_back_other_regions(
    fused: Sequence[tuple[Item, float]],
    region_of: Callable[[Item], str | None],
    preferred: Collection[str],
    penalty: float,
) -> list[tuple[Item, float]]:
    """``fused`` re-sorted after lowering by ``penalty`` the score of every item whose region is set and
    not ``preferred``; national items (region None) and preferred ones keep theirs. Ties keep order."""
    if penalty == 0:
        return list(fused)
    adjusted = [
        (
            item,
            score - penalty if (region := region_of(item)) is not None and region not in preferred else score,
        )
        for item, score in fused
    ]
    return sorted(adjusted, key=lambda entry: entry[1], reverse=True)


def step_back(settings: IndexSettings) -> float:
    """How much fused score a document of another place loses: ``settings.other_region_penalty`` × the
    best possible fused score."""
    return settings.other_region_penalty * fusion_from_settings(settings).best_possible_score()


class RegionStepBack:
    """Adjust stage: in hybrid ranking, documents of places the query does not name (and that are not the
    asker's home region) lose ``settings.other_region_penalty`` × the best possible fused score."""

    def __init__(self, settings: IndexSettings, catalogue: Catalogue):
        self.catalogue = catalogue
        self.penalty = step_back(settings)
        self.home_regions = named_regions(settings.home_region or "", catalogue.regions)

    def preferred_regions(self, query: str, home_region: str | None = None) -> frozenset[str]:
        """Regions whose documents keep their full score for ``query``: the ones it names, and
        ``home_region`` (the configured home region when None or blank)."""
        given = (home_region or "").strip()
        home = named_regions(given, self.catalogue.regions) if given else self.home_regions
        return named_regions(query, self.catalogue.regions) | home

    def adjust(self, request: SearchRequest, ranking: Ranking) -> Ranking:
        preferred = self.preferred_regions(request.query.text, request.home_region)
        return step_back_other_regions(ranking, self.catalogue.region_of, preferred, self.penalty)
