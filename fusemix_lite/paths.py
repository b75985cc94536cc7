"""Where the book keeps data, latents, converted models and runs on disk."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Root of everything the book writes: ``$FUSEMIX_HOME`` or ``~/.cache/fusemix-book``."""
    root = os.environ.get("FUSEMIX_HOME")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "fusemix-book"


def data_dir() -> Path:
    """Datasets (generated, unpacked from Debian packages, or downloaded)."""
    return home() / "data"


def latent_dir() -> Path:
    """The latent store shared by all chapters."""
    return home() / "latents"


def model_dir() -> Path:
    """Converted encoder weights (e.g. Whisper from CTranslate2) and trained generators."""
    return home() / "models"


def run_dir() -> Path:
    """Training runs and checkpoints."""
    return home() / "runs"
