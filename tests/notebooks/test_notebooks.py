"""The analysis notebooks run top to bottom on a profile-S warehouse and are committed without outputs.

"Committed without outputs" is checked on the working tree and, once a notebook is tracked, on the
version at git HEAD (read with ``git show``; nothing in the repository is changed).

Each notebook is executed with nbclient in a fresh ipykernel (the .venv's ``python3`` kernel) with
``COBRANZA_DATA_DIR`` pointing at the session's profile-S world, from the ``notebooks/`` folder as
a user would open it. Their cells assert what they show (segments add up to the total, every
scheduled contact is lawful, the champion beats 0.6 AUC), so a broken mart or model fails here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_the_three_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_portfolio_exploration.ipynb",
        "02_model_diagnostics.ipynb",
        "03_policy_evaluation.ipynb",
    ]


def _committed(path: Path) -> str | None:
    """The notebook as committed at HEAD, or None when it is not tracked yet (or git is unavailable)."""
    rel = path.relative_to(NOTEBOOKS_DIR.parent).as_posix()
    try:
        shown = subprocess.run(
            ["git", "-C", str(NOTEBOOKS_DIR.parent), "show", f"HEAD:{rel}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except OSError:
        return None
    return shown.stdout if shown.returncode == 0 else None


def _assert_stripped(nb, where: str) -> None:
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{where} cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{where} cell {i} has an execution count"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    _assert_stripped(nbformat.read(path, as_version=4), path.name)
    committed = _committed(path)
    if committed is not None:
        _assert_stripped(nbformat.reads(committed, as_version=4), f"{path.name} at git HEAD")


def test_the_stripped_check_can_fail(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello")]
    code.execution_count = 1
    with pytest.raises(AssertionError, match="has outputs"):
        _assert_stripped(nb, "tampered")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, profile_s_data: Path, monkeypatch) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("COBRANZA_DATA_DIR", str(profile_s_data))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}
    )
    client.execute()  # the kernel inherits os.environ, so COBRANZA_DATA_DIR
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in shown), f"{path.name} drew no chart"
