"""The corpus itself: unique ids, known categories, at least 150 cases, every category present."""

from __future__ import annotations

from collections import Counter

from tests.adversarial.census import all_cases, census
from tests.adversarial.corpus import CATEGORIES

MIN_CASES = 150  # DESIGN.md §9


def test_case_ids_are_unique():
    counts = Counter(c.id for c in all_cases())
    assert [i for i, n in counts.items() if n > 1] == []


def test_corpus_is_large_enough_and_covers_every_category():
    result = census(all_cases())
    assert result["total"] >= MIN_CASES, result
    assert [cat for cat in CATEGORIES if result["categories"][cat]["cases"] == 0] == []
