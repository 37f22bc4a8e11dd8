"""The KPI report's charts: matplotlib figures rendered to inline SVG strings.

Each function takes the frames read by ``cobranza.report.queries`` and returns an SVG fragment that
is embedded in the HTML as is, so the report is one self-contained file that renders with no
network (no JavaScript chart library, no web fonts: text is left as SVG text in the page's fonts).
SVG ids are salted deterministically, so the same data gives byte-identical figures.

Labels come from data (segment, channel, currency and feature names), so they are shown literally:
matplotlib's mathtext is switched off (``text.parse_math``), or a segment called ``$\\frac{$`` would
stop the build and ``$x$`` would render as math; control and bidirectional-override characters are
dropped and a very long label is shortened (:func:`label`). The SVG text itself is XML-escaped by
matplotlib, and the page embeds it as is.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from datetime import date

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

PALETTE = {
    "ink": "#1f2933",
    "muted": "#7b8794",
    "grid": "#e4e7eb",
    "blue": "#2563eb",
    "teal": "#0d9488",
    "amber": "#d97706",
    "red": "#dc2626",
    "green": "#16a34a",
    "violet": "#7c3aed",
}
AGING_COLOURS = ["#16a34a", "#facc15", "#f59e0b", "#ea580c", "#dc2626"]
#: Longest data label drawn on a chart (the tables show the whole name).
MAX_LABEL = 40


def label(value: object, limit: int = MAX_LABEL) -> str:
    """A data value as a chart label: literal text, no control/format characters, at most ``limit`` long.

    Control characters (``\\n``, ``\\x1b``) and format characters (zero-width spaces, bidirectional
    overrides that would make a label read backwards) are dropped; everything else, right-to-left
    scripts included, is kept as written.
    """
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text if unicodedata.category(c) != "Cf")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def labels(values) -> list[str]:
    """:func:`label` of each value, made unique (two long names cut to the same prefix stay two bars)."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for v in values:
        text = label(v)
        if text in seen:
            seen[text] += 1
            text = f"{text[: MAX_LABEL - 4]}… ({seen[text]})"
        else:
            seen[text] = 1
        out.append(text)
    return out


def money_short(value: float, currency: str = "") -> str:
    """Compact money label: 1,234 -> '1.2k', 23,640,634 -> '23.6M' (with the currency code if given)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    v = float(value)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            text = f"{v / div:,.1f}{suffix}"
            break
    else:
        text = f"{v:,.0f}"
    return f"{text} {label(currency, 12)}".strip()


def _style() -> None:
    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "text.parse_math": False,  # data labels are text, never TeX
            "svg.hashsalt": "cobranza-report",
            "font.family": "sans-serif",
            "font.size": 9,
            "axes.edgecolor": PALETTE["grid"],
            "axes.labelcolor": PALETTE["ink"],
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": PALETTE["grid"],
            "grid.linewidth": 0.6,
            "xtick.color": PALETTE["muted"],
            "ytick.color": PALETTE["muted"],
            "legend.frameon": False,
        }
    )


def _svg(fig, title: str) -> str:
    """Serialise a figure to an ``<svg>`` element with an accessible title."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<svg ", '<svg class="chart" role="img" ', text, count=1)
    safe = title.replace("&", "&amp;").replace("<", "&lt;")
    return re.sub(r"(<svg[^>]*>)", rf"\1<title>{safe}</title>", text, count=1)


def _fig(width: float = 7.2, height: float = 3.0):
    _style()
    return plt.subplots(figsize=(width, height))


def dso_trend(trend: pd.DataFrame, mart: dict, as_of: date) -> str:
    """DSO standard and countback against best possible DSO at each month end, plus the mart's run-date figures."""
    total = trend[trend["segment"] == "all"].sort_values("point_date")
    fig, ax = _fig()
    x = pd.to_datetime(total["point_date"])
    ax.plot(x, total["dso_standard"], color=PALETTE["blue"], marker="o", ms=3, label="DSO (standard)")
    ax.plot(x, total["dso_countback"], color=PALETTE["violet"], marker="o", ms=3, label="DSO (countback)")
    ax.plot(x, total["dso_best_possible"], color=PALETTE["green"], ls="--", marker="o", ms=3, label="best possible DSO")
    ax.fill_between(x, total["dso_best_possible"], total["dso_standard"], color=PALETTE["red"], alpha=0.07)
    run = pd.Timestamp(as_of)
    for key, colour in (
        ("dso_standard", PALETTE["blue"]),
        ("dso_countback", PALETTE["violet"]),
        ("dso_best_possible", PALETTE["green"]),
    ):
        if mart.get(key) is not None and not pd.isna(mart.get(key)):
            ax.scatter([run], [float(mart[key])], color=colour, marker="D", s=28, zorder=5, edgecolor="white")
    ax.set_ylabel("days")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower left", ncol=3, fontsize=8)
    ax.annotate("shaded: days lost to delinquency", xy=(0.99, 0.02), xycoords="axes fraction", ha="right",
                fontsize=7, color=PALETTE["muted"])  # fmt: skip
    return _svg(fig, "DSO trend: standard and countback against best possible DSO")


def aging_waterfall(kpis: dict, currency: str) -> str:
    """Open AR built up bucket by bucket (current, 1-30, 31-60, 61-90, 90+) to the total."""
    labels = ["current", "1-30", "31-60", "61-90", "90+"]
    keys = ["ar_current_reporting", "ar_1_30_reporting", "ar_31_60_reporting", "ar_61_90_reporting"]
    values = [float(kpis[k] or 0) for k in [*keys, "ar_90_plus_reporting"]]
    total = float(kpis["ar_total_reporting"] or 0)
    fig, ax = _fig(7.2, 3.0)
    bottom = 0.0
    for i, v in enumerate(values):
        ax.bar(i, v, bottom=bottom, color=AGING_COLOURS[i], width=0.62)
        ax.text(i, bottom + v, money_short(v), ha="center", va="bottom", fontsize=8, color=PALETTE["ink"])
        if i < len(labels) - 1:
            ax.plot([i + 0.31, i + 0.69], [bottom + v, bottom + v], color=PALETTE["muted"], lw=0.6)
        bottom += v
    ax.bar(len(labels), total, color=PALETTE["ink"], width=0.62)
    ax.text(len(labels), total, money_short(total), ha="center", va="bottom", fontsize=8, fontweight="bold")
    ax.set_xticks(range(len(labels) + 1), [*labels, "open AR"])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: money_short(v)))
    ax.set_ylabel(f"open AR ({label(currency)})")
    ax.grid(axis="x", visible=False)
    return _svg(fig, "Aging waterfall: open AR by days past due")


def dso_drivers(changes: pd.DataFrame) -> str:
    """Change of each segment's contribution to DSO (days) between the previous period and the run date."""
    fig, ax = _fig(7.2, 0.5 + 0.45 * max(len(changes), 2))
    colours = [PALETTE["red"] if v > 0 else PALETTE["green"] for v in changes["delta_days"]]
    ax.barh(labels(changes["segment"]), changes["delta_days"], color=colours, height=0.55)
    for y, v in enumerate(changes["delta_days"]):
        ax.text(v, y, f" {v:+.1f} d ", va="center", ha="left" if v >= 0 else "right", fontsize=8)
    ax.axvline(0, color=PALETTE["muted"], lw=0.8)
    ax.set_xlabel("change in DSO contribution (days)")
    ax.grid(axis="y", visible=False)
    lim = max(abs(changes["delta_days"]).max() * 1.35, 1.0)
    ax.set_xlim(-lim, lim)
    return _svg(fig, "Which segments moved DSO since the previous period")


def segment_kpis(by_segment: pd.DataFrame) -> str:
    """CEI and % overdue per segment, side by side."""
    _style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 2.6))
    seg = labels(by_segment["segment"])
    cei = by_segment["cei_30d"].astype(float)
    overdue = by_segment["pct_overdue"].astype(float)
    left.barh(seg, cei, color=PALETTE["teal"], height=0.55)
    left.set_title("CEI, last 30 days (%)", fontsize=9, loc="left")
    left.set_xlim(0, 100)
    right.barh(seg, overdue, color=PALETTE["amber"], height=0.55)
    right.set_title("share of open AR overdue", fontsize=9, loc="left")
    right.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    right.set_xlim(0, 1)
    for ax, values, fmt in ((left, cei, "{:.1f}"), (right, overdue, "{:.0%}")):
        ax.grid(axis="y", visible=False)
        for y, v in enumerate(values):
            ax.text(v, y, " " + fmt.format(v), va="center", fontsize=8)
    right.set_yticks(range(len(seg)), [""] * len(seg))
    return _svg(fig, "CEI and share overdue by segment")


def channel_performance(channels: pd.DataFrame, recovered: dict[str, float], currency: str) -> str:
    """Money recovered after each channel's last touch, and promises to pay per attempt, by channel."""
    _style()
    names = sorted(set(channels["channel"]) | {c for c, v in recovered.items() if v})
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 2.6))
    rec = [recovered.get(c, 0.0) for c in names]
    left.barh(labels(names), rec, color=PALETTE["blue"], height=0.55)
    left.set_title(f"recovered, last touch, 30 days ({label(currency)})", fontsize=9, loc="left")
    left.xaxis.set_major_formatter(FuncFormatter(lambda v, _: money_short(v)))
    by = channels.set_index("channel")
    rate = [float(by["promise_rate"].get(c, 0.0) or 0.0) for c in names]
    right.barh(labels(names), rate, color=PALETTE["violet"], height=0.55)
    right.set_title("promises to pay per attempt", fontsize=9, loc="left")
    right.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    right.set_yticks(range(len(names)), [""] * len(names))
    for ax, values, fmt in ((left, rec, money_short), (right, rate, lambda v: f"{v:.0%}")):
        ax.grid(axis="y", visible=False)
        ax.set_xlim(0, max(max(values, default=0) * 1.3, 1e-9))
        for y, v in enumerate(values):
            ax.text(v, y, " " + fmt(v), va="center", fontsize=8)
    return _svg(fig, "Recovery and promises to pay by channel")


def uplift(kpis: dict) -> str:
    """Share of decided customers who paid within 14 days: treatment (policy) vs control (static ladder)."""
    fig, ax = _fig(4.8, 2.4)
    arms = ["treatment", "control"]
    rates = [float(kpis["paid_rate_treatment"] or 0), float(kpis["paid_rate_control"] or 0)]
    counts = [int(kpis["n_customers_treatment"] or 0), int(kpis["n_customers_control"] or 0)]
    ax.bar(arms, rates, color=[PALETTE["blue"], PALETTE["muted"]], width=0.5)
    for i, (r, n) in enumerate(zip(rates, counts, strict=True)):
        ax.text(i, r, f"{r:.0%}\n(n={n:,})", ha="center", va="bottom", fontsize=8)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, max(max(rates) * 1.35, 0.1))
    ax.set_ylabel("paid within 14 days")
    ax.grid(axis="x", visible=False)
    return _svg(fig, "Treatment vs control: paid within 14 days of the decision")


def auto_match(by_currency: pd.DataFrame) -> str:
    """Cash-application auto-match rate (share of bank credit amount matched) per currency."""
    fig, ax = _fig(7.2, 2.4)
    cur = labels(by_currency["currency"])
    rate = by_currency["auto_match_rate"].astype(float).fillna(0).tolist()
    colours = [PALETTE["green"] if r >= 0.95 else PALETTE["amber"] for r in rate]
    ax.bar(cur, rate, color=colours, width=0.55)
    ax.axhline(0.95, color=PALETTE["muted"], ls=":", lw=0.8)
    ax.text(len(cur) - 0.5, 0.95, "95% ", ha="right", va="bottom", fontsize=7, color=PALETTE["muted"])
    for i, r in enumerate(rate):
        ax.text(i, r, f"{r:.1%}", ha="center", va="bottom", fontsize=8)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, 1.1)
    ax.grid(axis="x", visible=False)
    return _svg(fig, "Cash application auto-match rate by currency")


def risk_distribution(bands: pd.DataFrame, currency: str) -> str:
    """Open AR by the champion model's probability of late payment, in tenths."""
    fig, ax = _fig(7.2, 2.6)
    labels = [f"{a:.1f}-{b:.1f}" for a, b in zip(bands["risk_from"], bands["risk_to"], strict=True)]
    amounts = bands["amount_open_rpt"].astype(float)
    cmap = plt.get_cmap("RdYlGn_r")
    ax.bar(labels, amounts, color=[cmap(0.1 + 0.8 * i / 9) for i in range(len(labels))], width=0.8)
    for i, (a, n) in enumerate(zip(amounts, bands["n_invoices"], strict=True)):
        if n:
            ax.text(i, a, f"{int(n):,}", ha="center", va="bottom", fontsize=7, color=PALETTE["muted"])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: money_short(v)))
    ax.set_xlabel("probability of paying late (number of invoices above each bar)")
    ax.set_ylabel(f"open AR ({label(currency)})")
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", visible=False)
    return _svg(fig, "Open AR by predicted risk of late payment")


def drift(frame: pd.DataFrame, threshold: float) -> str:
    """Population stability index per feature (top 15): drifting in red, exempt in grey, with the threshold."""
    top = frame.head(15).iloc[::-1]
    fig, ax = _fig(7.2, 0.6 + 0.28 * len(top))
    exempt = top["is_exempt"].fillna(False).astype(bool) if "is_exempt" in top.columns else [False] * len(top)
    colours = [
        PALETTE["muted"] if ex else (PALETTE["red"] if dr else PALETTE["teal"])
        for ex, dr in zip(exempt, top["is_drifted"].fillna(False).astype(bool), strict=True)
    ]
    ax.barh(labels(top["feature"]), top["psi"].astype(float), color=colours, height=0.6)
    ax.axvline(threshold, color=PALETTE["red"], ls=":", lw=0.8)
    ax.set_xlabel("PSI against the training data (red: drifting, grey: exempt by design)")
    ax.grid(axis="y", visible=False)
    return _svg(fig, "Feature drift (PSI)")
