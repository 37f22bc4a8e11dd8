"""The small trained classifier behind the rules: TF-IDF of characters and words + logistic regression.

Trained from the labelled corpus kept in the repo (``ml/inbound/corpus/replies.jsonl``, the rows of
its ``train`` split; the ``heldout`` split is for evaluation only) with scikit-learn, deterministic
(lbfgs, no random state involved), in about two seconds on one core. Nothing is downloaded: the
fitted pipeline is cached under the data directory (``<data_dir>/models/reply_intents/<key>.joblib``,
the key a hash of the corpus, the feature settings and the scikit-learn version, so a changed
corpus or library retrains on first use) and rebuilt in memory when that directory is not writable.

Features read the sender's own words folded (lower case, no accents) with digits mapped to ``0``:
character n-grams (2-5, within word boundaries) carry typos, shorthand ("q", "xfa", "vc") and emoji;
word uni- and bigrams carry phrasing ("ya pague", "will pay").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from ml.inbound.text import clean_body, fold

log = logging.getLogger(__name__)

CORPUS = Path(__file__).with_name("corpus") / "replies.jsonl"
#: Bumped when features or the estimator change (part of the cache key).
MODEL_VERSION = "1"


def features_text(body: str) -> str:
    """What the classifier reads: the folded body, digits mapped to 0, at most 2,000 characters."""
    return re.sub(r"\d", "0", fold(body))[:2000]


def load_corpus(path: Path = CORPUS) -> list[dict[str, object]]:
    """The labelled messages (one JSON object per line)."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def build_pipeline() -> Pipeline:
    """The untrained pipeline (char 2-5 + word 1-2 TF-IDF, class-balanced logistic regression)."""
    return Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
                        (
                            "words",
                            TfidfVectorizer(
                                analyzer="word",
                                ngram_range=(1, 2),
                                sublinear_tf=True,
                                token_pattern=r"(?u)\b\w+\b|[^\w\s]",
                            ),
                        ),
                    ]
                ),
            ),
            ("clf", LogisticRegression(C=8.0, max_iter=5000, tol=1e-3, class_weight="balanced")),
        ]
    )


def train(rows: Iterable[dict[str, object]]) -> Pipeline:
    """Fit the pipeline on labelled rows (``text`` and ``intent``), reading each text's own words."""
    rows = list(rows)
    texts = [features_text(clean_body(str(r["text"]))) for r in rows]
    model = build_pipeline()
    model.fit(texts, [str(r["intent"]) for r in rows])
    return model


def _cache_key(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes())
    digest.update(f"{MODEL_VERSION}|{sklearn.__version__}|{np.__version__}".encode())
    return digest.hexdigest()[:16]


def _default_cache_dir() -> Path | None:
    try:
        from cobranza.settings import load_settings

        return load_settings().data_dir / "models" / "reply_intents"
    except Exception as exc:  # noqa: BLE001 - no settings means no cache, not no reader
        log.debug("reply intent model not cached: %s", exc)
        return None


def load_model(cache_dir: Path | None = None, corpus: Path = CORPUS) -> Pipeline:
    """The fitted classifier: read from the cache, else trained on the corpus's train split and cached.

    Args:
        cache_dir: Where fitted models are kept (default ``<data_dir>/models/reply_intents``).
        corpus: The labelled corpus.
    """
    cache_dir = cache_dir or _default_cache_dir()
    target = cache_dir / f"{_cache_key(corpus)}.joblib" if cache_dir else None
    if target and target.exists():
        try:
            return joblib.load(target)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is rebuilt
            log.warning("reply intent model %s unreadable (%s); training again", target, exc)
    model = train(r for r in load_corpus(corpus) if r.get("split") == "train")
    if target:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
            os.close(fd)
            joblib.dump(model, tmp)
            os.replace(tmp, target)
        except OSError as exc:
            log.warning("reply intent model not cached in %s: %s", target.parent, exc)
    return model


@lru_cache(maxsize=1)
def default_model() -> Pipeline:
    """The process-wide classifier (loaded once)."""
    return load_model()
