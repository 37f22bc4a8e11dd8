"""Debtor replies (issue 20): the message reader measured on the held-out part of the labelled corpus.

``python -m bench.reply_reader`` trains the intent classifier on the corpus's ``train`` split
(``ml/inbound/corpus/replies.jsonl``), reads every ``heldout`` message with
``ml.inbound.reader.read_message`` (language detected, not given; the account's country and currency
given, as the agent knows them) and prints, as Markdown for bench/RESULTS.md:

- precision, recall and F1 per intent, per language (macro over intents) and the macro-F1;
- the F1 of every intent in every language;
- the safety property: held-out opt-outs, disputes and legal threats read as an automatically
  answered intent (must be 0), and how many were read exactly;
- entities: promised dates, amounts with currency and invoice references read exactly;
- the old reader (``ml.inbound.replies.read_reply``) on the same messages in its own vocabulary
  (promise_to_pay / dispute / paid_claim / replied), beside the new reader collapsed to it;
- throughput (messages a second, one core, model loaded).

The held-out part shares no wording with training: the split is by hand-written family, and its
messages are wrapped (greetings, signatures, disclaimers, quoted reminders) from a separate pool
(see ``ml/inbound/corpus/write_corpus.py``).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

from sklearn.metrics import precision_recall_fscore_support

from ml.inbound import intent_model
from ml.inbound.reader import AUTO_ANSWERED, GATED, INTENTS, read_message
from ml.inbound.replies import read_reply


def _prf(gold: list[str], pred: list[str], labels: list[str]) -> tuple[list, list, list, list]:
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    return list(p), list(r), list(f), list(s)


def evaluate(rows: list[dict], model) -> dict:  # noqa: ANN001 - a fitted sklearn pipeline
    """Readings and figures of the held-out rows."""
    readings = [
        read_message(r["text"], sent_at=r["sent_at"], currency_hint=r["currency_hint"], country=r["country"],
                     model=model)
        for r in rows
    ]  # fmt: skip
    return {"readings": readings}


def _table(header: list[str], body: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def main(argv: list[str] | None = None) -> None:
    """Print the Markdown report."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    corpus = intent_model.load_corpus()
    train = [r for r in corpus if r["split"] == "train"]
    held = [r for r in corpus if r["split"] == "heldout"]
    t0 = time.perf_counter()
    model = intent_model.train(train)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    readings = evaluate(held, model)["readings"]
    gold = [r["intent"] for r in held]
    pred = [x.intent for x in readings]
    labels = list(INTENTS)
    out = [f"Corpus: {len(corpus):,} messages ({len(train):,} train, {len(held):,} held out; "
           f"{len({r['family'] for r in corpus}):,} hand-written families, "
           f"{len({r['family'] for r in held})} held out). Classifier trained in {train_s:.1f} s.", ""]  # fmt: skip
    p, r, f, s = _prf(gold, pred, labels)
    rows = [[lab, f"{p[i]:.2f}", f"{r[i]:.2f}", f"{f[i]:.2f}", str(s[i])] for i, lab in enumerate(labels)]
    macro = sum(f) / len(f)
    rows.append(["**macro**", f"{sum(p) / len(p):.2f}", f"{sum(r) / len(r):.2f}", f"**{macro:.3f}**", str(len(gold))])
    out += ["Per intent (held-out):", "", _table(["intent", "precision", "recall", "F1", "n"], rows), ""]
    lang_rows, grid = [], defaultdict(dict)
    for lang in ("es", "en", "pt"):
        idx = [i for i, row in enumerate(held) if row["lang"] == lang]
        g, q = [gold[i] for i in idx], [pred[i] for i in idx]
        present = [lab for lab in labels if lab in g]
        lp, lr, lf, _ = _prf(g, q, present)
        lang_rows.append([lang, f"{sum(lp) / len(lp):.2f}", f"{sum(lr) / len(lr):.2f}", f"{sum(lf) / len(lf):.3f}",
                          f"{sum(a == b for a, b in zip(g, q, strict=True)) / len(g):.3f}", str(len(g))])  # fmt: skip
        for lab, val in zip(present, lf, strict=True):
            grid[lab][lang] = f"{val:.2f}"
    out += ["Per language (macro over intents):", "",
            _table(["language", "precision", "recall", "macro-F1", "accuracy", "n"], lang_rows), ""]  # fmt: skip
    out += ["F1 by intent and language:", "",
            _table(["intent", "es", "en", "pt"], [[lab] + [grid[lab].get(x, "-") for x in ("es", "en", "pt")]
                                                   for lab in labels]), ""]  # fmt: skip
    # Safety.
    gated = [(g_, q) for g_, q in zip(gold, pred, strict=True) if g_ in GATED]
    unsafe = [(g_, q) for g_, q in gated if q in AUTO_ANSWERED]
    exact = Counter(g_ for g_, q in gated if g_ == q)
    by_gold = Counter(g_ for g_, _ in gated)
    out += [f"Safety (held-out): {len(unsafe)} of {len(gated)} opt-outs, disputes and legal threats read as an "
            f"automatically answered intent; read exactly: " + ", ".join(f"{k} {exact[k]}/{by_gold[k]}" for k in GATED)
            + " (the rest went to a person as unclear or another hand-off intent).", ""]  # fmt: skip
    # Entities.
    promises = [(row, x) for row, x in zip(held, readings, strict=True) if row["promised_date"]]
    d_ok = sum(x.promised_date == date.fromisoformat(row["promised_date"]) for row, x in promises)
    amounts = [(row, x) for row, x in zip(held, readings, strict=True) if row["amount"]]
    a_ok = sum(x.amount == Decimal(row["amount"]) and x.currency == row["currency"] for row, x in amounts)
    invs = [(row, x) for row, x in zip(held, readings, strict=True) if row["invoices"]]
    i_ok = sum(list(x.invoices) == row["invoices"] for row, x in invs)
    no_amount = [(row, x) for row, x in zip(held, readings, strict=True) if not row["amount"]]
    a_fp = sum(x.amount is not None for _, x in no_amount)
    lang_ok = sum(x.language == row["lang"] for row, x in zip(held, readings, strict=True))
    old_dates = sum(
        read_reply(row["text"], date.fromisoformat(row["sent_at"][:10]), row["lang"]).promised_date
        == date.fromisoformat(row["promised_date"])
        for row, _ in promises
    )
    out += ["Entities (held-out):", "", _table(["what", "new reader", "old reader"], [
        ["promised date exact (promises with a date)", f"{d_ok}/{len(promises)}", f"{old_dates}/{len(promises)}"],
        ["amount and currency exact", f"{a_ok}/{len(amounts)}", "-"],
        ["amount read where none was written", f"{a_fp}/{len(no_amount)}", "-"],
        ["invoice references exact", f"{i_ok}/{len(invs)}", "-"],
        ["language detected (not given)", f"{lang_ok}/{len(held)}", "-"],
    ]), ""]  # fmt: skip
    # The old reader in its own vocabulary.
    old_labels = ["promise_to_pay", "dispute", "paid_claim", "replied"]
    collapse = {k: k if k in old_labels else "replied" for k in INTENTS}
    old = [read_reply(row["text"], date.fromisoformat(row["sent_at"][:10]), row["lang"]).outcome for row in held]
    g4 = [collapse[g_] for g_ in gold]
    op, orr, of, os_ = _prf(g4, old, old_labels)
    npp, nr, nf, _ = _prf(g4, [collapse[q] for q in pred], old_labels)
    cmp_rows = [[lab, f"{op[i]:.2f} / {orr[i]:.2f} / {of[i]:.2f}",
                 f"{npp[i]:.2f} / {nr[i]:.2f} / {nf[i]:.2f}", str(os_[i])]
                for i, lab in enumerate(old_labels)]  # fmt: skip
    opt_idx = [i for i, g_ in enumerate(gold) if g_ == "opt_out"]
    old_opt_bad = sum(old[i] in ("promise_to_pay", "paid_claim") for i in opt_idx)
    out += ["Old reader (ml/inbound/replies.py) vs new, same held-out messages, in the old vocabulary "
            "(precision / recall / F1):", "",
            _table(["outcome", "old reader", "new reader", "n"], cmp_rows), "",
            f"Macro-F1 over these four outcomes: old {sum(of) / 4:.3f}, new {sum(nf) / 4:.3f}. The old reader has no "
            f"opt-out intent (its opt-out check answers `replied`); {old_opt_bad} of the {len(opt_idx)} held-out "
            "opt-outs it reads as a promise or a paid claim.", ""]  # fmt: skip
    # Throughput.
    texts = [row["text"] for row in corpus]
    t0 = time.perf_counter()
    for row in corpus:
        read_message(row["text"], sent_at=row["sent_at"], currency_hint=row["currency_hint"], model=model)
    secs = time.perf_counter() - t0
    out.append(f"Throughput: {len(texts) / secs:,.0f} messages/s (all {len(texts):,} corpus messages, one process, "
               "model loaded).")  # fmt: skip
    print("\n".join(out))  # noqa: T201 - a report on stdout


if __name__ == "__main__":
    main()
