"""The oracle (ground truth) stays evaluation-only: nothing on the product path can import it (issue 22)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("flows", "ml", "connectors", "cobranza")  # what the daily run and the policy import
FORBIDDEN = ("evaluation.oracle", "bench")


def _imports(path: Path) -> set[str]:
    """Modules a file imports (absolute names; ``from x import y`` gives x and x.y)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    files = [p for d in (*PRODUCT, "evaluation", "simulator", "cli") for p in (ROOT / d).rglob("*.py")]
    return {_module(p): _imports(p) for p in files}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        todo.extend(m for m in graph.get(mod, ()) if m in graph)
    return seen


def test_no_product_module_reaches_the_oracle() -> None:
    graph = _graph()
    assert "evaluation.oracle" in graph and "ml.nba.engine" in graph
    bad = {}
    for mod in graph:
        if mod.split(".")[0] not in PRODUCT:
            continue
        hits = {m for m in _reachable(graph, mod) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}
        if hits:
            bad[mod] = sorted(hits)
    assert not bad, f"product modules reaching the oracle or bench/: {bad}"


def test_the_check_sees_an_import_of_the_oracle(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("from evaluation import oracle\nimport evaluation.oracle as o\n")
    assert "evaluation.oracle" in _imports(f)
    graph = {"flows.a": {"flows.b"}, "flows.b": {"evaluation.oracle"}, "evaluation.oracle": set()}
    assert "evaluation.oracle" in _reachable(graph, "flows.a")  # transitively, too


def test_the_policy_modules_read_no_simulator_truth() -> None:
    """The policy learns from what the product holds: ``ml.nba`` reaches neither the simulator nor evaluation/."""
    graph = _graph()
    policy = [m for m in graph if m.startswith("ml.nba")]
    assert "ml.nba.bandit" in policy and "ml.nba.engine" in policy
    bad = {
        mod: sorted(m for m in _reachable(graph, mod) if m.split(".")[0] in ("simulator", "evaluation", "bench"))
        for mod in policy
    }
    assert not any(bad.values()), f"policy modules reaching the simulator or the evaluation: {bad}"
