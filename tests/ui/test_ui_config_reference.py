"""docs/configuration.md is generated from the settings model and is up to date.

Loads docs/gen_config_reference.py by path (docs/ is not a package) and compares what it renders
now with the committed file; also checks that every settings field appears with its environment
variable, so a field added to cobranza/settings.py without regenerating the reference fails here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "cobranza_gen_config_reference", REPO / "docs" / "gen_config_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_reference_is_current() -> None:
    gen = _generator()
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == gen.render(), "docs/configuration.md is out of date: run `make config-docs`"
    assert gen.main(["--check"]) == 0


def test_every_settings_field_is_documented_with_its_env_var() -> None:
    from cobranza.settings import Settings

    text = _generator().render()
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            for sub in field.annotation.model_fields:
                assert f"| `{name}.{sub}` | `COBRANZA_{name.upper()}__{sub.upper()}` |" in text, f"{name}.{sub}"
        else:
            assert f"| `{name}` | `COBRANZA_{name.upper()}` |" in text, name
