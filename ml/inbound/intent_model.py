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

# ruff: noqa: E501 - cue patterns read best as written, whatever their length

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
MODEL_VERSION = "3"


#: Cue words of each intent (folded text), written from how debtors talk, not from the corpus: a match
#: adds a marker token (``__cue_hardship__``) the classifier weighs like any word. They let a small
#: model generalise to wordings it has not seen; the gated intents have their rules (``ml.inbound.rules``).
CUES: dict[str, str] = {
    "promise": r"\b(pagare|pagaremos|pagamos el|vamos a pagar|voy a pagar|le pago|te pago|les pago|deposito|transfiero|"
    r"consigno|yapeo|hacemos la transferencia|hago la transferencia|realizaremos|se realizara|programad\w*|agend\w*|"
    r"sin falta|me comprometo|vou pagar|faco o pix|vamos pagar|pagarei|sera efetuad\w*|cai na conta|fica agendado|"
    r"pode contar|i'?ll pay|ill pay|will pay|we will send|will transfer|will be paid|scheduled|expect payment|"
    r"promise to pay|gonna pay|going to pay|will settle|we'?ll settle|will leave|should go out|i get paid|sale (el pago|la transferencia)|"
    r"se libera|queda saldad\w*|quito|deposit(o|amos)|abono)\b",
    "paid": r"\b(ya (le |te |les |lo |se |os )?(pague|pagamos|pago|deposite|depositamos|transferi|transferimos|consigne|"
    r"yapee|realizamos|hicimos|esta pag\w*|esta cancelad\w*)|esta pagad\w*|fue (abonad|pagad|cancelad)\w*|comprobante|"
    r"justificante|soporte|ja (paguei|pagamos|fiz|efetu\w*|quitei|quitamos|depositamos|transferimos|foi pag\w*|esta pag\w*|"
    r"ta pag\w*)|comprovante|comprovativo|liquidad\w*|quitad\w*|quitei|already paid|paid (already|in full|it|this|last|"
    r"on|by|yesterday|online)|was paid|has been paid|been paid|was sent|went out|mailed|proof of payment|remittance|"
    r"confirmation number|cleared|settled|ja foi|pagamento realizado|sent it|se saldo|salde)\b",
    "statement": r"\b(cuanto (debo|es|seria|me falta|falta|le debo|te debo)|saldo|estado de cuenta|extracto|adeud\w*|"
    r"deuda|vencidas|pendiente|quanto (devo|falta|fica|e|eu devo)|extrato|divida|debito|em aberto|how much|balance|"
    r"statement|outstanding|owe|open invoices|overdue|payoff|breakdown|posicion|posicao|total)\b",
    "copy": r"\b((reenvi|mand|envi|pas|regal|encamin|forward|resend|send|email)\w*\b.{0,30}\b(factura|fatura|nota|"
    r"boleto|invoice|bill|pdf|xml|copia|copy|duplicado|segunda via)|copia|copy|duplicado|segunda via|pdf|xml|"
    r"no me llego la factura|nao (recebi|chegou) a (nota|fatura)|comprobante fiscal|factura electronica|nota fiscal)\b",
    "plan": r"\b(cuotas|parcel\w*|plazos?|facilidades|fraccion\w*|acuerdo de pago|convenio|refinanci\w*|abonando|"
    r"pagos parciales|pago parcial|dividir|prestac\w*|negociar|acordo|installments?|instalments?|payment plan|spread|"
    r"split|arrangements?|repayment|smaller|months|part now|veces|vezes|\d+x|de a poco|aos poucos|mitad)\b",
    "wrong": r"\b(equivocad\w*|no soy|no conozco|ya no trabaj\w*|ya no labora|renunci\w*|no es mi empresa|"
    r"numero nuevo|nada que ver|numero errado|nao conheco|nao sou|nao trabalha mais|trabalha mais|trocou|"
    r"errar\w* de pessoa|wrong (number|person|company)|don'?t know (anyone|him|her)|left the company|"
    r"doesn'?t work here|not the account holder|new number|never been a customer|nunca fui cliente|le pifiaron|"
    r"se confundieron|ya no vive|sai da empresa|procurem|receptionist|chofer|motoboy|this isn'?t|not me|"
    r"no es este numero|ese senor|esa senora|passed away|falleci\w*|faleceu)\b",
    "hardship": r"\b(perdi (mi |el |meu |o |my )?(trabajo|empleo|emprego|job)|sin (trabajo|chamba|laburo|empleo|ingresos|"
    r"liquidez|plata|dinero|un peso|caja)|desemplead\w*|desempregad\w*|despid\w*|demitid\w*|enferm\w*|doente|"
    r"hospital\w*|internad\w*|murio|muri|quebr\w*|concurso de acreedores|insolven\w*|fali\w*|bankrupt\w*|"
    r"administration|laid off|lost my job|unemploy\w*|no tengo (dinero|plata|como)|sem (dinheiro|grana|condic\w*|caixa|"
    r"rendimentos)|broke|afford|crisis|incendio|inundacion|enchente|flood\w*|fire|dificil|difficult|rough|aperto|corto de|"
    r"no me alcanza|tight|going under|no cash|cash flow|sick|no income|sin ingresos|accidente|accident|cerro|fechou|"
    r"situacion|situacao|momento)\b",
    "question": r"(\b(a que cuenta|que cuenta|clabe|cbu|alias|iban|datos (para|bancarios)|chave pix|agencia|routing|sort code|"
    r"bank details|quien|quem|who|de que empresa|which company|qual empresa|tarjeta|cartao|card|efectivo|horario|hours|"
    r"oficial|legitimate|referencia|reference|como (hago|faco|pago)|how do i|donde|onde|where|aceptan|aceitam|"
    r"do you take|yape|plin|mb way|online|site|en linea|fee|comision)\b|\?)",
    "ack": r"^\W*(ok|okay|k|vale|listo|dale|gracias|obrigad[oa]|thanks|thank you|thx|cheers|recibido|recebido|"
    r"received|enterado|entendido|understood|noted|perfecto|perfeito|perfect|certo|combinado|de acuerdo|beleza|blz|valeu|"
    r"show|got it|sounds good|visto|orale|ta bom|muito obrigad[oa])\b[^?]{0,40}$|^\W*[👍👌🙏✅]",
    "media": r"<(multimedia omitido|media omitted|midia oculta)>|\[(audio|voice message|image|imagen)\]",
    "greeting_only": r"^\W*(hola|buenas|buenos dias|oi|ola|hi|hello|hey|bom dia|boa tarde|que onda)\W*$",
}
_CUES = {name: re.compile(p) for name, p in CUES.items()}
#: Template and format placeholders ("{{ x }}", "${x}", "{amount}", "%s") are nobody's words: not read.
_TEMPLATE_SYNTAX = re.compile(
    r"\{\{.*?\}\}|\$\{[^}]*\}|\{[^{}\s]{1,40}\}|%[sd]\b|<[^<>]{1,40}>(?<!<multimedia omitido>)(?<!<media omitted>)(?<!<midia oculta>)"
)


def features_text(body: str) -> str:
    """What the classifier reads: the folded body (template placeholders and HTML-like tags dropped, digits
    mapped to 0, at most 2,000 characters), then
    a marker token per cue family found and one for the length in words."""
    t = _TEMPLATE_SYNTAX.sub(" ", fold(body)[:2000])
    marks = [f"__cue_{name}__" for name, p in _CUES.items() if p.search(t)]
    words = len(t.split())
    marks.append("__len_1__" if words <= 1 else "__len_short__" if words <= 4 else "__len_long__")
    return re.sub(r"\d", "0", t) + " " + " ".join(marks)


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


class Scorer:
    """The fitted pipeline's probabilities for one text at a time, without scikit-learn's per-call checks.

    Same arithmetic as ``Pipeline.predict_proba`` (each TF-IDF block: counts, sublinear tf, idf, L2
    norm; then the multinomial logistic regression's softmax), read from the fitted attributes:
    about 0.1 ms a message instead of several ms (tests/ml/test_reply_reader.py checks they agree).
    """

    def __init__(self, model: Pipeline) -> None:
        self.model = model
        self.classes_ = model.named_steps["clf"].classes_
        clf = model.named_steps["clf"]
        self._coef_t = np.ascontiguousarray(clf.coef_.T)
        self._intercept = clf.intercept_
        self._blocks = []
        offset = 0
        for _, vec in model.named_steps["features"].transformer_list:
            self._blocks.append((vec.build_analyzer(), vec.vocabulary_, vec.idf_, offset, vec.sublinear_tf))
            offset += len(vec.vocabulary_)

    def proba(self, text: str) -> np.ndarray:
        """Class probabilities of one ``features_text`` string, in ``classes_`` order."""
        idx: list[int] = []
        vals: list[float] = []
        for analyze, vocab, idf, offset, sublinear in self._blocks:
            counts: dict[int, int] = {}
            for gram in analyze(text):
                j = vocab.get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            w = (np.log(tf) + 1.0 if sublinear else tf) * idf[cols]
            w /= np.sqrt((w * w).sum())
            idx.extend((cols + offset).tolist())
            vals.extend(w.tolist())
        z = self._intercept + (np.asarray(vals) @ self._coef_t[idx] if idx else 0.0)
        z = np.exp(z - z.max())
        return z / z.sum()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Probabilities of several texts (rows), like the pipeline's."""
        return np.vstack([self.proba(t) for t in texts])


@lru_cache(maxsize=1)
def default_model() -> Pipeline:
    """The process-wide classifier (loaded once)."""
    return load_model()
