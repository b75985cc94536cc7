"""What a chapter measured and how: the provenance box at the end of every chapter, and the
small JSON of results that the tests read back. Introduced in the preface."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from . import __version__
from .files import write_atomic

_T0 = time.time()


def git_revision() -> str:
    """The repository's short revision, or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_description() -> str:
    """CPU model and core count, plus the GPU's name when there is one."""
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        desc += f"; GPU {torch.cuda.get_device_name(0)}"
    return desc


def provenance(params: dict) -> dict:
    """Run time since import, peak memory, parameters, library version and git revision."""
    import torch

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    info = {
        "run_time_s": round(time.time() - _T0, 1),
        "peak_memory_mb": round(peak_mb, 1),
        "parameters": params,
        "fusemix_lite": __version__,
        "git_revision": git_revision(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "device": device_description(),
    }
    if torch.cuda.is_available():
        info["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return info


def provenance_box(params: dict):
    """An HTML box for the end of a chapter (plain text outside Jupyter)."""
    from IPython.display import HTML

    info = provenance(params)
    rows = "".join(f"<tr><td><b>{k}</b></td><td><code>{v}</code></td></tr>" for k, v in info.items())
    return HTML(f"<details open><summary>Provenance of this run</summary><table>{rows}</table></details>")


def save_results(path: str | Path | None, results: dict) -> None:
    """Write the chapter's key results as JSON (atomically) for tests to assert on."""
    if path:
        write_atomic(Path(path), json.dumps(results, indent=2, sort_keys=True, default=float).encode())
