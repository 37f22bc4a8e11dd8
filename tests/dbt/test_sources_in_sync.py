"""The dbt raw sources (``models/staging/<system>/_<system>__sources.yml``) match connectors/contracts.py.

The raw contracts are the one declaration of what lands in ``raw_<system>.*`` (DESIGN.md §3); the
source files are generated from them, so dbt's docs and lineage show the same tables, columns and
types. This test reads every raw source file and compares it, table by table and column by column
(name, order and ``data_type``, lineage columns included), with the contracts: a column added to a
contract without regenerating the file fails here, naming the table and the column.

Regenerate the files after changing a contract::

    .venv/bin/python tests/dbt/test_sources_in_sync.py --write
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STAGING = ROOT / "dbt_project" / "models" / "staging"
HEADER = (
    "# Generated from connectors/contracts.py by `python tests/dbt/test_sources_in_sync.py --write`\n"
    "# (tests/dbt/test_sources_in_sync.py checks it).\n"
)
LINEAGE_DESCRIPTIONS = {
    "_source": "lineage: the source system or file format that produced the row",
    "_batch_id": "lineage: the load batch that landed the row",
    "_loaded_at": "lineage: when the row was landed (UTC)",
    "_file": "lineage: the file the row was read from (null for API and database sources)",
}

if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from connectors.contracts import ALL_STREAMS, LINEAGE_COLUMNS, StreamContract  # noqa: E402


def source_file(system: str) -> Path:
    """The sources file of one raw system, e.g. ``staging/erp/_erp__sources.yml``."""
    return STAGING / system / f"_{system}__sources.yml"


def expected_columns(contract: StreamContract) -> list[tuple[str, str]]:
    """``(name, data_type)`` of a raw table, in landing order: business columns, then lineage."""
    return [(c.name, c.type) for c in contract.columns] + list(LINEAGE_COLUMNS.items())


def render(system: str, streams: tuple[StreamContract, ...] = ALL_STREAMS) -> dict[str, Any]:
    """The sources document of one system, as the generator writes it."""
    tables = []
    for s in (s for s in streams if s.system == system):
        columns = [
            {"name": c.name, "data_type": c.type, "description": c.description or c.name.replace("_", " ")}
            for c in s.columns
        ]
        columns += [
            {"name": name, "data_type": type_, "description": LINEAGE_DESCRIPTIONS[name]}
            for name, type_ in LINEAGE_COLUMNS.items()
        ]
        tables.append(
            {
                "name": s.name,
                "description": f"{s.description} Key: {', '.join(s.primary_key)}; {s.disposition}.",
                "columns": columns,
            }
        )
    return {
        "version": 2,
        "sources": [
            {
                "name": f"raw_{system}",
                "schema": f"raw_{system}",
                "description": (
                    f"Raw {system.upper()} streams landed by the source connectors (connectors/contracts.py)."
                ),
                "tables": tables,
            }
        ],
    }


def differences(system: str, document: dict[str, Any], streams: tuple[StreamContract, ...] = ALL_STREAMS) -> list[str]:
    """What differs between a parsed sources file and the contracts of ``system`` (empty: in sync)."""
    where = source_file(system).relative_to(ROOT)
    sources = {src["name"]: src for src in document.get("sources") or []}
    source = sources.get(f"raw_{system}")
    if source is None:
        return [f"{where}: no source raw_{system}"]
    out: list[str] = []
    if source.get("schema") != f"raw_{system}":
        out.append(f"{where}: source raw_{system} has schema {source.get('schema')!r}, not raw_{system}")
    declared = {t["name"]: t for t in source.get("tables") or []}
    contracts = {s.name: s for s in streams if s.system == system}
    for name in sorted(contracts.keys() - declared.keys()):
        out.append(f"{where}: contract raw_{system}.{name} is missing from the file")
    for name in sorted(declared.keys() - contracts.keys()):
        out.append(f"{where}: table raw_{system}.{name} has no contract in connectors/contracts.py")
    for name in sorted(contracts.keys() & declared.keys()):
        want = expected_columns(contracts[name])
        have = [(c.get("name"), str(c.get("data_type") or "")) for c in declared[name].get("columns") or []]
        for column, type_ in want:
            if column not in dict(have):
                out.append(f"{where}: raw_{system}.{name}.{column} ({type_}) is in the contract, not in the file")
            elif dict(have)[column].upper() != type_.upper():
                out.append(
                    f"{where}: raw_{system}.{name}.{column} is {dict(have)[column]!r} in the file, "
                    f"{type_!r} in the contract"
                )
        for column, _ in have:
            if column not in dict(want):
                out.append(f"{where}: raw_{system}.{name}.{column} is in the file, not in the contract")
        if not out and [c for c, _ in have] != [c for c, _ in want]:
            out.append(f"{where}: raw_{system}.{name}: columns are not in the contract's landing order")
    return out


def write(system: str) -> Path:
    """(Re)write the sources file of one system from the contracts."""
    path = source_file(system)
    text = yaml.safe_dump(render(system), sort_keys=False, allow_unicode=True, width=120)
    path.write_text(HEADER + text, encoding="utf-8")
    return path


SYSTEMS = sorted({s.system for s in ALL_STREAMS})


@pytest.mark.parametrize("system", SYSTEMS)
def test_sources_file_matches_contracts(system: str) -> None:
    path = source_file(system)
    assert path.is_file(), f"{path} is missing: run `python tests/dbt/test_sources_in_sync.py --write`"
    problems = differences(system, yaml.safe_load(path.read_text(encoding="utf-8")))
    assert not problems, "\n".join(problems) + "\nrun `python tests/dbt/test_sources_in_sync.py --write`"


def test_sources_file_is_what_the_generator_writes() -> None:
    for system in SYSTEMS:
        text = source_file(system).read_text(encoding="utf-8")
        assert text.startswith(HEADER), f"{source_file(system)} lost its generated-file header"
        assert yaml.safe_load(text) == render(system), (
            f"{source_file(system)} was edited by hand (descriptions differ from connectors/contracts.py): "
            "run `python tests/dbt/test_sources_in_sync.py --write`"
        )


def test_a_contract_column_added_without_the_file_is_caught() -> None:
    from dataclasses import replace

    from connectors.contracts import Column

    stream = next(s for s in ALL_STREAMS if s.system == "erp")
    grown = replace(stream, columns=(*stream.columns, Column("loyalty_tier", "VARCHAR")))
    streams = tuple(grown if s is stream else s for s in ALL_STREAMS)
    document = yaml.safe_load(source_file("erp").read_text(encoding="utf-8"))
    problems = differences("erp", document, streams)
    assert problems == [
        f"dbt_project/models/staging/erp/_erp__sources.yml: raw_erp.{stream.name}.loyalty_tier (VARCHAR) "
        "is in the contract, not in the file"
    ]
    retyped = replace(
        stream, columns=tuple(replace(c, type="BIGINT") if i == 0 else c for i, c in enumerate(stream.columns))
    )
    streams = tuple(retyped if s is stream else s for s in ALL_STREAMS)
    assert any("'BIGINT' in the contract" in p for p in differences("erp", document, streams))


def main(argv: list[str] | None = None) -> None:
    """``--write`` regenerates every raw sources file; without it, lists the differences."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the files from connectors/contracts.py")
    args = parser.parse_args(argv)
    for system in SYSTEMS:
        if args.write:
            write(system)
        else:
            for line in differences(system, yaml.safe_load(source_file(system).read_text(encoding="utf-8"))):
                sys.stderr.write(line + "\n")


if __name__ == "__main__":
    main()
