"""Every error the library raises, in one place.

Hierarchy::

    PipelineError                 base: anything the user can act on
    ├── FetchError                a configured source URL could not be read
    ├── IngestError               a file or line could not be read as a report
    ├── ExtractionError           the extractor (rules or model backend) failed
    ├── GeoparseError             gazetteer data missing or malformed
    ├── RegistryError             facility registry rows invalid
    ├── TermsError                agreement terms invalid (names the field path)
    ├── StorageError              the database refused an operation
    └── LedgerError               the ledger chain is broken or cannot be appended

Each message is one line that names the file, line or field and the problem,
so the CLI can print it as is.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class; the message is one actionable line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        if "\n" in message or "\r" in message:  # a library's multi-line message (YAML, lxml): one line
            message = " ".join(message.split())
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        # a lone surrogate (hostile input, a file name that is not UTF-8) would make printing
        # the message fail: it is escaped
        super().__init__(f"{where}{message}".encode("utf-8", "backslashreplace").decode("utf-8"))


class FetchError(PipelineError):
    """A configured source URL could not be fetched."""


class IngestError(PipelineError):
    """A file or one line of it could not be read as a report."""


class ExtractionError(PipelineError):
    """The extractor failed on a report."""


class GeoparseError(PipelineError):
    """Gazetteer data is missing or malformed."""


class RegistryError(PipelineError):
    """A facility registry row is invalid."""


class TermsError(PipelineError):
    """Agreement terms are invalid; the message names the offending field path."""


class StorageError(PipelineError):
    """The database refused an operation."""


class LedgerError(PipelineError):
    """The ledger chain is broken, or an entry cannot be appended."""
