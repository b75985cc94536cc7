"""The library's own exceptions: each names the problem so a reader knows what to fix."""


class FuseMixError(Exception):
    """Base class of the library's errors."""


class UnknownNameError(FuseMixError, KeyError):
    """An unknown encoder, dataset or profile name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class StoreMismatchError(FuseMixError, ValueError):
    """A cached latent file was made differently from what the caller expects."""


class StoreCorruptError(FuseMixError, ValueError):
    """A cached latent file is truncated, corrupt or inconsistent with its manifest."""


class CheckpointError(FuseMixError, ValueError):
    """A checkpoint or training-state file is corrupt, truncated or of another model; names the file."""


class OfflineError(FuseMixError, RuntimeError):
    """A full-profile resource (hub model, dataset download) was asked for while offline."""


class MissingDataError(FuseMixError, FileNotFoundError):
    """A dataset or tool is not installed; the message says how to get it."""
