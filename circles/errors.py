"""Exceptions raised by circles."""

from __future__ import annotations


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
