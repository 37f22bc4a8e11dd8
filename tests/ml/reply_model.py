"""One trained reply-intent classifier per test session (trained once, cached in a temporary folder).

The reader tests and the adversarial debtor-message cases share it; ``use_trained_model`` makes
``ml.inbound.intent_model.default_model`` return it, so code that reads with the default model (the
CLI, the interactions builder) does not train again or touch a real data directory.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

from sklearn.pipeline import Pipeline

from ml.inbound import intent_model


@lru_cache(maxsize=1)
def trained_model() -> Pipeline:
    """The classifier trained on the corpus's train split (about 2-5 s, once per process)."""
    return intent_model.load_model(cache_dir=Path(tempfile.mkdtemp(prefix="cobranza-reply-model-")))


def use_trained_model(monkeypatch) -> Pipeline:  # noqa: ANN001 - pytest's fixture
    """Point the default model at :func:`trained_model` for one test."""
    model = trained_model()
    monkeypatch.setattr(intent_model, "default_model", lambda: model)
    return model
