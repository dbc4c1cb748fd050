"""Jurisdiction in ranking: a local regulation answers questions about its own place.

A question that names no place is answered from national documents first; one that names 深圳 from 深圳's
documents and national ones. Documents of other places are not filtered out, they step back by a fixed
amount of fused score, so a local clause that matches clearly better still comes first. Where the asker is
known (a home region), other places step back further — their rules bind none of its askers — and places
nested with it are not another place: a 山东 portal's 济南市 regulations and a 济南 portal's 山东 ones neither
step back nor step forward (docs/decisions/2026-12-02-home-region-boost.md, 2026-12-03-known-home.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from policyqa.corpus.places import province_of
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


def province_of_region(region: str) -> str | None:
    """The province a city region belongs to (济南市 → 山东); None for a province or a place not known."""
    return next((province for name in region_names(region) if (province := province_of(name))), None)


@lru_cache(maxsize=256)  # one entry per home region asked from; the index's regions are a handful
def nested_regions(home: frozenset[str], regions: frozenset[str]) -> frozenset[str]:
    """The ``regions`` nested with ``home`` but not in it: the cities of a home province and the province of a
    home city (a 山东 home: 济南市, 青岛市; a 济南市 home: 山东, but not 青岛市)."""
    home_keys = {place_key(region) for region in home}
    home_provinces = {place_key(province) for region in home if (province := province_of_region(region))}
    nested = set()
    for region in regions - home:
        province = province_of_region(region)
        if (province is not None and place_key(province) in home_keys) or place_key(region) in home_provinces:
            nested.add(region)
    return frozenset(nested)


def adjust_by_region(
    fused: Sequence[tuple[Item, float]],
    region_of: Callable[[Item], str | None],
    preferred: Collection[str],
    penalty: float,
    home: Collection[str] = frozenset(),
    boost: float = 0.0,
) -> list[tuple[Item, float]]:
    """``fused`` re-sorted after lowering by ``penalty`` the score of every item whose region is set and
    not ``preferred`` and raising by ``boost`` the score of every item of a ``home`` region; national items
    (region None) keep theirs. Ties keep order."""
    if penalty == 0 and boost == 0:
        return list(fused)
    adjusted = []
    for item, score in fused:
        region = region_of(item)
        if region is not None and region not in preferred:
            score -= penalty
        elif region is not None and region in home:
            score += boost
        adjusted.append((item, score))
    return sorted(adjusted, key=lambda entry: entry[1], reverse=True)


def step_back(settings: IndexSettings, *, home_known: bool = False) -> float:
    """How much fused score a document of another place loses: ``settings.other_region_penalty`` (with
    ``home_known``: ``settings.home_other_region_penalty``) × the best possible fused score."""
    share = settings.home_other_region_penalty if home_known else settings.other_region_penalty
    return share * fusion_from_settings(settings).best_possible_score()


def home_boost(settings: IndexSettings) -> float:
    """How much fused score a document of the asker's home region gains: ``settings.home_region_boost`` ×
    the best possible fused score."""
    return settings.home_region_boost * fusion_from_settings(settings).best_possible_score()


class RegionStepBack:
    """Adjust stage: in hybrid ranking, documents of places the query does not name (and that are neither the
    asker's home region nor nested with it) lose ``settings.other_region_penalty`` × the best possible fused
    score — ``settings.home_other_region_penalty`` × that score when the asker's home is known, as their rules
    bind none of its askers — and the home region's documents gain ``settings.home_region_boost`` × that score
    unless the query names another place (a 江苏 portal asked about 深圳 prefers nothing of 江苏's)."""

    def __init__(self, settings: IndexSettings, catalogue: Catalogue):
        self.catalogue = catalogue
        self.penalty = step_back(settings)
        self.home_penalty = step_back(settings, home_known=True)
        self.boost = home_boost(settings)
        self.configured_home = (settings.home_region or "").strip()
        self.home_regions = named_regions(self.configured_home, catalogue.regions)

    def home(self, home_region: str | None = None) -> tuple[str, frozenset[str]]:
        """The asker's home as written (``home_region``, or the configured one when it is None or blank) and
        the index's regions it names."""
        given = (home_region or "").strip()
        if not given:
            return self.configured_home, self.home_regions
        return given, named_regions(given, self.catalogue.regions)

    def adjust(self, request: SearchRequest, ranking: Ranking) -> Ranking:
        named = named_regions(request.query.text, self.catalogue.regions)
        given, home = self.home(request.home_region)
        boosted = home if named <= home else frozenset()
        # nested with the home as written too: it nests even when the index holds none of its documents
        nested = nested_regions(home | {given}, self.catalogue.regions) if given else frozenset()
        kept = named | home | nested
        penalty = self.home_penalty if given else self.penalty
        return adjust_by_region(ranking, self.catalogue.region_of, kept, penalty, boosted, self.boost)
