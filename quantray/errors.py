"""The quantray error hierarchy.

Every error a user can cause (bad data, a bad config, an unknown strategy or parameter) derives from
:class:`QuantrayError`, so that the CLI can print it as one line and exit non-zero without a traceback.
Messages name the file, symbol, row/timestamp, column or parameter, the value and the rule broken.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DataValidationError",
    "ParameterError",
    "QuantrayError",
    "StrategyError",
]


class QuantrayError(Exception):
    """Base class of every error quantray raises on purpose (user-facing, one line)."""


class DataError(QuantrayError):
    """A data source cannot be read: missing or empty file, missing columns, wrong types."""


class DataValidationError(DataError):
    """Bars break a validation rule and the policy is ``on_bad="raise"``.

    ``report`` holds every problem found, not only the first.
    """

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class ConfigError(QuantrayError, ValueError):
    """A configuration value or key is invalid (names the key, the value and the rule)."""


class StrategyError(QuantrayError, KeyError):
    """An unknown strategy name or a bad strategy definition."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it a plain sentence
        return str(self.args[0]) if self.args else ""


class ParameterError(QuantrayError, ValueError):
    """A strategy parameter is unknown, missing, of the wrong type or breaks a constraint (e.g. fast < slow)."""
