"""quantray.portfolio: performance attribution (more portfolio tools — sizing, optimisation — to come).

* :func:`benchmark_relative`: alpha (Jensen, annualised as empyrical), beta, tracking error, information ratio,
  up/down capture, correlation and active return against a benchmark.
* :func:`brinson_fachler`: sector attribution (allocation, selection, interaction) per period, linked over
  periods with Cariño's logarithmic coefficients.
* :func:`factor_attribution`: OLS on Fama-French 5 factors + momentum (:func:`load_fama_french`), with
  t-statistics, R², per-factor return contributions and the residual.
* :func:`active_passive_breakdown`: the part of the return explained by a benchmark or factors vs the rest.

Example:
    >>> import numpy as np
    >>> from quantray.portfolio import benchmark_relative
    >>> b = np.array([0.01, -0.02, 0.015, 0.003, -0.004])
    >>> round(benchmark_relative(b + 0.001, b, periods_per_year=252)["tracking_error"], 12)
    0.0
"""

from __future__ import annotations

from quantray.portfolio._attribution import (
    AttributionError,
    BrinsonResult,
    align_returns,
    benchmark_relative,
    brinson_fachler,
)
from quantray.portfolio._factors import (
    FF5_MOM_COLUMNS,
    ActivePassive,
    FactorAttribution,
    active_passive_breakdown,
    factor_attribution,
    load_fama_french,
)

__all__ = [
    "FF5_MOM_COLUMNS",
    "ActivePassive",
    "AttributionError",
    "BrinsonResult",
    "FactorAttribution",
    "active_passive_breakdown",
    "align_returns",
    "benchmark_relative",
    "brinson_fachler",
    "factor_attribution",
    "load_fama_french",
]
