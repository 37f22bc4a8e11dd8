"""The one place Cobranza imports Great Expectations (GX Core 1.24).

GX takes about 5 s to import and reads ``GX_ANALYTICS_ENABLED`` when it loads, so every module that
needs GX imports it from here, and only code paths that validate import this module: importing the
``expectations`` package itself stays cheap. Contexts follow the GX 1.x docs
(https://docs.greatexpectations.io/docs/core/set_up_a_gx_environment/create_a_data_context):
ephemeral by default, a File Data Context under a generated ``gx_root`` when results must persist.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

# Must be set before the first GX import. As in cobranza.runtime, a value already set wins.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context import data_context_variables as _variables_module  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.expectations.row_conditions import Column as Col  # noqa: E402
from great_expectations.expectations.row_conditions import deserialize_row_condition  # noqa: E402

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext

__all__ = ["Col", "RunIdentifier", "deserialize_row_condition", "get_context", "gx", "gxe"]

logger = logging.getLogger(__name__)

# GX logs store writes, temp dirs and deprecations at INFO/WARNING; keep our logs readable. Some
# GX modules pin their own logger to INFO, and one names its logger after its file path.
logging.getLogger("great_expectations").setLevel(logging.ERROR)
logging.getLogger(_variables_module.__file__).setLevel(logging.ERROR)
for _name, _logger in list(logging.Logger.manager.loggerDict.items()):
    if _name.startswith("great_expectations.") and isinstance(_logger, logging.Logger) and _logger.level:
        _logger.setLevel(logging.ERROR)


def get_context(gx_root: Path | None) -> AbstractDataContext:
    """Return a GX data context with progress bars and analytics off.

    Args:
        gx_root: Directory for a File Data Context (GX creates ``gx_root/gx/``: suites and
            validation definitions as JSON, results and Data Docs under ``uncommitted/``). It holds
            generated data and must lie outside the repository's committed tree. ``None`` gives an
            in-memory (ephemeral) context whose results vanish with the process.

    Returns:
        The configured data context.
    """
    if gx_root is None:
        context = gx.get_context(mode="ephemeral")
    else:
        gx_root = Path(gx_root)
        gx_root.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=gx_root)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.analytics_enabled = False
    if gx_root is not None:
        context.variables.save()
        logger.debug("GX file context at %s", context.root_directory)
    return context
