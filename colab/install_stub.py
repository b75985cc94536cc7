"""Run with the emulation venv's python: put the google.colab stub and Colab's kernel launcher into
its site-packages, and make its Jupyter kernel ``python3`` start through that launcher (the kernel
papermill asks for), as Colab's kernel.json does."""

import json
import shutil
import sys
import sysconfig
from pathlib import Path

here = Path(__file__).resolve().parent / "stub"
site = Path(sysconfig.get_paths()["purelib"])
assert sys.prefix != sys.base_prefix, "run this with the emulation venv's python"
shutil.copytree(here / "google" / "colab", site / "google" / "colab", dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__"))
shutil.copy2(here / "colab_kernel_launcher.py", site / "colab_kernel_launcher.py")

spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3"
spec.mkdir(parents=True, exist_ok=True)
# sys.executable is the venv's bin/python (not the interpreter it links to): the kernel runs in the venv
(spec / "kernel.json").write_text(json.dumps({
    "argv": [sys.executable, "-m", "colab_kernel_launcher", "-f", "{connection_file}"],
    "display_name": "Python 3 (Colab, emulated)", "language": "python",
    "metadata": {"debugger": True}}, indent=1) + "\n")
print(f"google.colab stub and colab_kernel_launcher in {site}; kernel python3 in {spec}")
