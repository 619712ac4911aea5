"""Exceptions raised by circles."""

from __future__ import annotations

import math


class CirclesError(Exception):
    """Base class of every error circles raises on purpose."""


class InputError(CirclesError, ValueError):
    """A user input (file, feature, field) is missing or wrong.

    The message names the file, the feature or row, the field and what was expected.
    """

    def __init__(
        self, message: str, *, path: str | None = None, feature: str | None = None, field: str | None = None
    ) -> None:
        parts = []
        if path is not None:
            parts.append(f"{path}")
        if feature is not None:
            parts.append(f"feature {feature}")
        if field is not None:
            parts.append(f"field '{field}'")
        prefix = ": ".join([", ".join(parts)]) if parts else ""
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.message = message
        self.path = path
        self.feature = feature
        self.field = field

    def located(self, path: str | None = None, feature: str | None = None) -> InputError:
        """The same error with the file (and feature) filled in where it was not known."""
        return InputError(self.message, path=self.path or path, feature=self.feature or feature, field=self.field)


class ConfigError(CirclesError, ValueError):
    """A rulebook or configuration file is invalid (the message names the file and entry)."""


class OptionError(CirclesError, ValueError):
    """An option (command-line flag or keyword argument) is out of range or not a number.

    The message names the option both ways (``speed`` / ``--speed``), the value given and
    the range expected; with ``keyword``, only the keyword (an unknown keyword has no flag).
    """

    def __init__(self, option: str, value: object, expected: str, *, keyword: bool = False) -> None:
        from .options import flag_of  # the flags are declared with the options

        flag = None if keyword else flag_of(option)
        shown = option if flag is None else f"{flag} ({option})" if flag.lstrip("-") != option else flag
        super().__init__(f"{shown} is {value!r}: expected {expected}")
        self.option = option
        self.value = value


class OutputError(CirclesError):
    """The output folder or file cannot be written, is in use, or would overwrite something.

    The message names the path and says what to do (another ``--out``, ``--force``, free
    space); the previous outputs are left as they were.
    """


def check_option(option: str, value: object, *, low: float, high: float, low_open: bool = False, what: str) -> float:
    """Return ``value`` as a float when it is a finite number in range.

    The range is ``[low, high]`` (``(low, high]`` with ``low_open``); otherwise raise
    :class:`OptionError` saying ``what`` is expected.

    Parameters
    ----------
    option : str
        The keyword name (``speed``, ``grid_spacing_m`` …); the message gives its flag too.
    what : str
        What the option means, e.g. ``"a walking speed in metres per minute"``.
    """
    bracket = "(" if low_open else "["
    expected = f"{what}, a finite number in {bracket}{low:g}, {high:g}]"
    if isinstance(value, bool):
        raise OptionError(option, value, expected)
    try:
        v = float(value)  # type: ignore[arg-type]  # any object: float() says whether it is a number
    except (TypeError, ValueError):
        raise OptionError(option, value, expected) from None
    if not math.isfinite(v) or v < low or v > high or (low_open and v == low):
        raise OptionError(option, value, expected)
    return v
