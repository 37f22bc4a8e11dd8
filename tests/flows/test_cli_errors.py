"""The CLI's failure path: one readable line, markup printed literally, logs routed to a file."""

from __future__ import annotations

import logging
from datetime import date, datetime

import pytest
import typer

from cli import app as cli
from cobranza import runtime
from connectors.load import SourceDataError
from expectations.gates import Failure, GateResult, QualityGateError, SuiteResult


def test_fail_prints_markup_literally_on_one_line(capsys) -> None:
    with pytest.raises(typer.Exit):
        cli._fail("statement.sta line 7: :61: damaged; expected [//bankref] after the amount")
    err = capsys.readouterr().err
    assert "[//bankref]" in err and len([line for line in err.splitlines() if line.strip()]) == 1


def test_one_line_of_a_gate_failure_names_the_first_check() -> None:
    failure = Failure("s", "marts.mart_ar_reconciliation", "relative_difference", "expect_between", "critical", "x")
    result = GateResult("pre_dispatch", date(2026, 11, 23), datetime(2026, 11, 23))
    result.results["s"] = SuiteResult("s", "marts.mart_ar_reconciliation", 4, failures=[failure, failure])
    line = cli._one_line(QualityGateError(result))
    assert "\n" not in line
    assert "marts.mart_ar_reconciliation.relative_difference" in line and "and 1 more" in line


def test_fail_run_writes_the_traceback_to_the_log_and_ends_with_one_line(tmp_path, capsys) -> None:
    log_file = tmp_path / "logs" / "run.log"
    try:
        raise SourceDataError("erp/invoices.csv: an HTML page, not CSV; download the export again")
    except SourceDataError as exc:
        with pytest.raises(typer.Exit):
            cli._fail_run(exc, log_file)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "erp/invoices.csv: an HTML page" in err[0] and str(log_file) in err[0]
    assert "Traceback" in log_file.read_text()


def test_logs_to_file_takes_console_handlers_off_the_terminal(tmp_path, capsys) -> None:
    logger = logging.getLogger("cobranza.test.console")
    console = logging.StreamHandler()
    logger.addHandler(console)
    logger.propagate = False
    try:
        with runtime.logs_to_file(tmp_path / "run.log") as path:
            logger.warning("set aside: erp/customers.csv")
        logger.removeHandler(console)
        assert "set aside" in path.read_text()
        assert "set aside" not in capsys.readouterr().err
    finally:
        logger.removeHandler(console)
        logger.propagate = True
