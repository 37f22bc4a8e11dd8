"""Count the adversarial corpus by category and outcome: ``python -m tests.adversarial.census [--json]``.

Imports every ``tests/adversarial/test_*.py`` module and reads its ``CASES``; prints a table (or one
JSON object) with the number of cases per category and outcome. The figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections import Counter
from pathlib import Path

from tests.adversarial.corpus import CATEGORIES, OUTCOMES, Case

HERE = Path(__file__).resolve().parent


def all_cases() -> list[Case]:
    """Every case of every corpus module, in module order."""
    cases: list[Case] = []
    for module_path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(f"tests.adversarial.{module_path.stem}")
        cases.extend(getattr(module, "CASES", []))
    return cases


def census(cases: list[Case]) -> dict:
    """Counts by category, by outcome and in all."""
    by_category = Counter(c.category for c in cases)
    by_outcome = Counter((c.category, c.expect) for c in cases)
    return {
        "total": len(cases),
        "categories": {
            cat: {"cases": by_category.get(cat, 0), **{o: by_outcome.get((cat, o), 0) for o in OUTCOMES}}
            for cat in CATEGORIES
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = census(all_cases())
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    lines = [f"{'category':<18} {'cases':>6} " + " ".join(f"{o:>12}" for o in OUTCOMES)]
    for cat, row in result["categories"].items():
        lines.append(f"{cat:<18} {row['cases']:>6} " + " ".join(f"{row[o]:>12}" for o in OUTCOMES))
    lines.append(f"{'total':<18} {result['total']:>6}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
