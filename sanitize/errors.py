"""Errors that end the processing of one file (never the batch).  Their message is
the one-line reason shown to the user and stored in the report."""


class SanitizeError(Exception):
    """Base: a per-file failure with a human-readable reason."""


class UnsupportedFile(SanitizeError):
    """Not a format the tool handles (sniffed from the bytes)."""


class DecodeError(SanitizeError):
    """The file claims a supported format but cannot be decoded (truncated, corrupt)."""


class TooLarge(SanitizeError):
    """Decompression-bomb guard: more pixels or frames than the configured limit."""


class VerifyError(SanitizeError):
    """The written output failed the final re-check."""


class ModelMissing(SanitizeError):
    """A model file the install step should have put in place is absent or altered."""


class UsageProblem(Exception):
    """A usage or environment error that stops the whole command before any file is
    touched (bad option or policy, OUT held by another run, scheduler unreachable,
    model missing).  The message is one line saying what to do; the CLI exits 3."""
