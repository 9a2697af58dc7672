"""Chart data of a report (pure pandas) and its two drawings: plotly (HTML) and matplotlib (PDF, PNG)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from quantray.reports._model import QuarterlyReport

#: Above this many symbols the monthly heatmap shows sectors instead of symbols.
MAX_HEATMAP_SYMBOLS = 30

__all__ = ["MAX_HEATMAP_SYMBOLS", "ChartData", "chart_data", "matplotlib_figures", "plotly_figures"]


class ChartData:
    """Series behind the five charts: equity, drawdown, monthly returns, rolling Sharpe, distribution."""

    def __init__(
        self,
        equity: pd.DataFrame,
        drawdown: pd.DataFrame,
        monthly: pd.DataFrame,
        rolling_sharpe: pd.DataFrame,
        returns: pd.DataFrame,
        window: int,
    ) -> None:
        self.equity = equity
        self.drawdown = drawdown
        self.monthly = monthly
        self.rolling_sharpe = rolling_sharpe
        self.returns = returns
        self.window = window


def chart_data(report: QuarterlyReport, *, top: int = 5) -> ChartData:
    """Equity (portfolio, benchmark and the top ``top`` symbols by Sharpe, rebased to 1), drawdown, monthly
    returns (symbols × months, plus the portfolio), rolling Sharpe (a one-month window) and per-bar returns."""
    eq = report.equity
    if eq is None or eq.empty:
        empty = pd.DataFrame()
        return ChartData(empty, empty, empty, empty, empty, 0)
    init = float(report.execution.get("init_cash", 100_000.0))
    filled = eq.ffill().fillna(init)
    tops = [r.symbol for r in report.get_top_performers(min(top, len(report.rows)))] if report.rows else []
    cols = [c for c in ("portfolio", "benchmark") if c in filled] + [s for s in tops if s in filled]
    rebased = filled[cols] / init
    prev = pd.concat(
        [pd.DataFrame([[init] * filled.shape[1]], columns=filled.columns), filled], ignore_index=True
    )
    rets = pd.DataFrame(
        prev.to_numpy()[1:] / prev.to_numpy()[:-1] - 1.0, index=filled.index, columns=filled.columns
    )
    dd = rebased / rebased.cummax().clip(lower=1.0) - 1.0
    syms = [r.symbol for r in report.rows if r.symbol in filled]
    dti = pd.DatetimeIndex(filled.index)
    month_key = (dti.tz_convert("UTC") if dti.tz is not None else dti).strftime("%Y-%m")
    growth = (1.0 + rets).groupby(month_key).prod() - 1.0
    if len(syms) <= MAX_HEATMAP_SYMBOLS:
        monthly = growth[[c for c in ("portfolio", *syms) if c in growth]]
    else:  # a large portfolio: one row per sector (equal-weight mean of its symbols' monthly returns)
        sector_of = {r.symbol: r.sector or "Unclassified" for r in report.rows}
        by_sector = growth[syms].T.groupby(lambda s: sector_of.get(s, "Unclassified")).mean().T
        monthly = pd.concat([growth[["portfolio"]] if "portfolio" in growth else None, by_sector], axis=1)
    ppy = float(report.periods_per_year)
    n = len(rets)
    window = max(5, min(round(ppy / 12), max(5, n // 2)))
    r2 = rets[[c for c in ("portfolio", "benchmark") if c in rets]]
    roll = r2.rolling(window).mean() / r2.rolling(window).std(ddof=1) * math.sqrt(ppy)
    return ChartData(
        rebased, dd[[c for c in ("portfolio", "benchmark") if c in dd]], monthly.T, roll, r2, window
    )


def _colors(primary: str, accent: str) -> list[str]:
    return [primary, accent, "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def plotly_figures(report: QuarterlyReport, *, primary: str, accent: str) -> dict[str, Any]:
    """Plotly figures keyed ``equity``, ``drawdown``, ``monthly``, ``rolling_sharpe``, ``distribution``."""
    import plotly.graph_objects as go

    cd = chart_data(report)
    pal = _colors(primary, accent)
    figs: dict[str, Any] = {}
    layout = {"template": "plotly_white", "height": 360, "margin": {"l": 50, "r": 20, "t": 40, "b": 40}}
    f = go.Figure()
    for i, c in enumerate(cd.equity.columns):
        f.add_trace(
            go.Scatter(
                x=cd.equity.index,
                y=cd.equity[c],
                name=c,
                mode="lines",
                line={"color": pal[i % len(pal)], "width": 3 if c == "portfolio" else 1.5},
            )
        )
    f.update_layout(title="Equity (rebased to 1)", **layout)
    figs["equity"] = f
    f = go.Figure()
    for i, c in enumerate(cd.drawdown.columns):
        f.add_trace(
            go.Scatter(x=cd.drawdown.index, y=cd.drawdown[c], name=c, fill="tozeroy", line={"color": pal[i]})
        )
    f.update_layout(title="Drawdown", yaxis_tickformat=".1%", **layout)
    figs["drawdown"] = f
    m = cd.monthly
    f = go.Figure(
        go.Heatmap(
            z=m.to_numpy() * 100,
            x=list(m.columns),
            y=list(m.index),
            colorscale="RdYlGn",
            zmid=0,
            text=np.vectorize(lambda v: f"{v:.1f}%")(m.to_numpy() * 100) if m.size else None,
            texttemplate="%{text}",
            colorbar={"title": "%"},
        )
    )
    f.update_layout(title="Monthly returns (%)", **{**layout, "height": max(360, 22 * len(m.index) + 80)})
    figs["monthly"] = f
    f = go.Figure()
    for i, c in enumerate(cd.rolling_sharpe.columns):
        f.add_trace(
            go.Scatter(x=cd.rolling_sharpe.index, y=cd.rolling_sharpe[c], name=c, line={"color": pal[i]})
        )
    f.update_layout(title=f"Rolling Sharpe ({cd.window}-bar window, annualised)", **layout)
    figs["rolling_sharpe"] = f
    f = go.Figure()
    for i, c in enumerate(cd.returns.columns):
        f.add_trace(
            go.Histogram(x=cd.returns[c] * 100, name=c, opacity=0.6, marker={"color": pal[i]}, nbinsx=30)
        )
    f.update_layout(title="Return distribution (% per bar)", barmode="overlay", **layout)
    figs["distribution"] = f
    return figs


def matplotlib_figures(report: QuarterlyReport, *, primary: str, accent: str) -> dict[str, Any]:
    """The same five charts as matplotlib figures (Agg backend), for the PDF and PNG screenshots."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cd = chart_data(report)
    pal = _colors(primary, accent)
    figs: dict[str, Any] = {}
    fig, ax = plt.subplots(figsize=(7.5, 3.0), dpi=110)
    for i, c in enumerate(cd.equity.columns):
        ax.plot(
            cd.equity.index,
            cd.equity[c],
            label=c,
            color=pal[i % len(pal)],
            lw=2.4 if c == "portfolio" else 1.1,
        )
    ax.set_title("Equity (rebased to 1)")
    ax.legend(fontsize=7, ncol=4)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    figs["equity"] = fig
    fig, ax = plt.subplots(figsize=(7.5, 2.4), dpi=110)
    for i, c in enumerate(cd.drawdown.columns):
        ax.fill_between(cd.drawdown.index, cd.drawdown[c] * 100, 0, color=pal[i], alpha=0.35, label=c)
    ax.set_title("Drawdown (%)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    figs["drawdown"] = fig
    m = cd.monthly
    fig, ax = plt.subplots(figsize=(7.5, max(2.4, 0.22 * len(m.index) + 0.8)), dpi=110)
    if m.size:
        vals = m.to_numpy() * 100
        lim = float(np.nanmax(np.abs(vals))) or 1.0
        im = ax.imshow(vals, cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_yticks(range(len(m.index)), list(m.index), fontsize=6)
        ax.set_xticks(range(len(m.columns)), list(m.columns), fontsize=7)
        for (a, b), v in np.ndenumerate(vals):
            ax.text(b, a, f"{v:.1f}", ha="center", va="center", fontsize=5.5)
        fig.colorbar(im, ax=ax, fraction=0.03)
    ax.set_title("Monthly returns (%)")
    fig.tight_layout()
    figs["monthly"] = fig
    fig, ax = plt.subplots(figsize=(7.5, 2.4), dpi=110)
    for i, c in enumerate(cd.rolling_sharpe.columns):
        ax.plot(cd.rolling_sharpe.index, cd.rolling_sharpe[c], color=pal[i], label=c)
    ax.set_title(f"Rolling Sharpe ({cd.window}-bar window)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    figs["rolling_sharpe"] = fig
    fig, ax = plt.subplots(figsize=(7.5, 2.4), dpi=110)
    for i, c in enumerate(cd.returns.columns):
        ax.hist(cd.returns[c].to_numpy() * 100, bins=30, alpha=0.55, color=pal[i], label=c)
    ax.set_title("Return distribution (% per bar)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    figs["distribution"] = fig
    return figs
