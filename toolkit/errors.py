"""Named errors. Each carries a code so users can search for it and messages say how to fix the cause."""

from __future__ import annotations


class ToolkitError(Exception):
    """Base class: the CLI prints these as one line, without a traceback, and exits non-zero."""

    code = "E000"

    @property
    def message(self) -> str:
        """The message without the code prefix."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class InputError(ToolkitError):
    """An input path or file the user named cannot be used."""

    code = "E100"


class DecodeError(ToolkitError):
    """A file's bytes cannot be turned into text (binary, empty, unknown encoding)."""

    code = "E101"


class RecordError(ToolkitError):
    """A JSONL/Parquet record is malformed; the message names file and line."""

    code = "E102"


class SchemaError(ToolkitError):
    """The label schema or a rule file is malformed; the message names the file and field."""

    code = "E200"


class ConfigError(ToolkitError):
    """A config file or override is invalid."""

    code = "E300"


class StudioError(ToolkitError):
    """Label Studio cannot be started, reached or used as asked; ``transient`` when a retry may succeed
    (connection lost, 429, 5xx)."""

    code = "E400"

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ModelError(ToolkitError):
    """A model folder is missing, foreign, corrupt or unsafe to load."""

    code = "E500"
