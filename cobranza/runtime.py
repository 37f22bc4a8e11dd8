"""Process-wide defaults for the embedded stack: quiet, offline-safe and patient on 2 cores.

Set before Prefect, MLflow, GX or dbt are imported (STACK.md): analytics and telemetry off (this
machine class has no internet, and offline telemetry has locked Prefect's database once), a longer
start-up timeout for Prefect's in-process API. Values already in the environment win. Also the
CLI's log routing (``logs_to_file``) and the release of a failed run's frames (``release_exception``).
"""

from __future__ import annotations

import gc
import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DBT_PRINTER_WIDTH": "100",
}


def apply_defaults() -> None:
    """Put the quiet defaults into ``os.environ`` unless already set."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


#: Handlers that write to the terminal (Prefect's console handler is a StreamHandler too).
def _is_console(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


@contextmanager
def logs_to_file(path: Path) -> Iterator[Path]:
    """Send every log record that would reach the terminal to ``path`` instead, for the block.

    The CLI's promise is one readable line on stderr when a run fails (DESIGN.md §11): Prefect's
    task and flow tracebacks, GX and dbt chatter and our own warnings go to the log file, whose path
    the last line names. Console handlers of the root logger and of the non-propagating loggers
    Prefect configures (``prefect._internal``, ``uvicorn``, ``fastapi``) are swapped for one file
    handler and restored afterwards.

    Args:
        path: The log file (its folder is created).

    Yields:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s - %(message)s"))
    swapped: list[tuple[logging.Logger, list[logging.Handler]]] = []
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        console = [h for h in logger.handlers if _is_console(h)]
        if not console:
            continue
        for h in console:
            logger.removeHandler(h)
        logger.addHandler(handler)
        swapped.append((logger, console))
    try:
        yield path
    finally:
        for logger, console in swapped:
            logger.removeHandler(handler)
            for h in console:
                logger.addHandler(h)
        handler.close()


def release_exception(exc: BaseException) -> None:
    """Drop the frames an exception keeps alive (open DuckDB connections, relations) and collect them.

    A failed run's exception holds every frame it passed through, and with them the warehouse
    connections and relations of those frames: at exit nanobind then reports dozens of "leaked
    instances" of DuckDB objects. Clearing the frames of the exception and of its causes releases
    them before the interpreter shuts down.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
            current.__traceback__ = None
        current = current.__cause__ or current.__context__
    gc.collect()
