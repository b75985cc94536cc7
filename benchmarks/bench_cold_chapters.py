"""Each chapter alone in a fresh runtime: its cold wall time at the default parameters.

For each chapter, a new empty ``FUSEMIX_HOME`` (no cached latents, data, runs or figures from any
other chapter), then papermill runs the notebook unchanged (its own parameters, offline) and the
wall time of the whole run (kernel start to the last cell) is recorded. This is what a reader pays
opening one chapter in a new Colab CPU runtime (2 cores), minus the install cell (which runs only
on Colab) and the Debian packages (installed once per machine). Run from the repository root:

    python benchmarks/bench_cold_chapters.py                     # every chapter, one after another
    python benchmarks/bench_cold_chapters.py book/05_*.ipynb     # some
    python benchmarks/bench_cold_chapters.py --json benchmarks/cold_chapters.json
    python benchmarks/bench_cold_chapters.py --notes-from benchmarks/cold_chapters.json

The last form measures nothing: it writes each chapter's measured time into its run-time note
(after the paragraph that starts "Estimated run time" or "Run time"), which tests/test_book.py checks.

Run it on a quiet machine: it measures wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cold(notebook: Path, workdir: Path) -> dict:
    """Run ``notebook`` with papermill in a fresh FUSEMIX_HOME under ``workdir``; seconds and status."""
    home = workdir / "home"
    home.mkdir(parents=True)
    env = dict(os.environ, FUSEMIX_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               MPLCONFIGDIR=str(workdir / "mpl"), PYTHONPATH=str(ROOT))
    out = workdir / notebook.name
    cmd = [sys.executable, "-m", "papermill", "--no-progress-bar", "--cwd", str(notebook.parent),
           str(notebook), str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    row = {"chapter": notebook.name, "seconds": round(seconds, 1), "ok": proc.returncode == 0}
    if proc.returncode:
        row["error"] = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
    return row


NOTE_START = "Measured alone in a fresh runtime"
NOTE = (NOTE_START + " (empty cache, default parameters, a quiet 2-core CPU; "
        "`benchmarks/bench_cold_chapters.py`): **{time}**.")


def minutes_seconds(seconds: float) -> str:
    """'3 min 05 s', or '42 s' under a minute."""
    s = round(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def write_notes(cold_json: Path) -> None:
    """Put each chapter's measured cold time into its run-time note (replacing an older figure)."""
    import nbformat

    for row in json.loads(cold_json.read_text())["rows"]:
        path = ROOT / "book" / row["chapter"]
        if not row["ok"] or not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        note = NOTE.format(time=minutes_seconds(row["seconds"]))
        for cell in nb.cells:
            found = re.search(r"(Estimated run time|^Run time)", cell.source, re.M)
            if cell.cell_type != "markdown" or not found:
                continue
            if NOTE_START in cell.source:  # an older measurement: replace its sentence
                cell.source = re.sub(re.escape(NOTE_START) + r".*?\*\*[^*]+\*\*\.", note, cell.source, flags=re.S)
            else:  # a new paragraph right after the run-time paragraph
                end = cell.source.find("\n\n", found.start())
                end = len(cell.source.rstrip("\n")) if end < 0 else end
                cell.source = cell.source[:end] + "\n\n" + note + cell.source[end:]
            break
        else:
            raise SystemExit(f"{path.name}: no run-time note found")
        nbformat.write(nb, path)
        print(f"{path.name}: {note}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--json", type=Path, help="write the rows (and the machine) to this file")
    ap.add_argument("--keep", type=Path, help="keep the executed notebooks in this folder")
    ap.add_argument("--notes-from", type=Path, help="only write these measured times into the run-time notes")
    args = ap.parse_args(argv)
    if args.notes_from:
        write_notes(args.notes_from)
        return 0
    notebooks = args.notebooks or sorted((ROOT / "book").glob("[0-9][0-9]*.ipynb"))
    rows, load_before = [], os.getloadavg()[0]

    def write_json() -> None:  # after every chapter, so a cut-off run keeps what it measured
        machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                   "load_before": load_before, "load_after": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d")}
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")

    for nb in notebooks:
        with tempfile.TemporaryDirectory(prefix="cold-") as tmp:
            row = run_cold(nb.resolve(), Path(tmp))
            if args.keep and (Path(tmp) / nb.name).exists():
                args.keep.mkdir(parents=True, exist_ok=True)
                (args.keep / nb.name).write_bytes((Path(tmp) / nb.name).read_bytes())
        rows.append(row)
        print(f"{row['chapter']:<40} {row['seconds']:>8.1f} s  {'ok' if row['ok'] else 'FAILED ' + str(row.get('error'))}",
              flush=True)
        if args.json:
            write_json()
    total = sum(r["seconds"] for r in rows)
    print(f"{'total (each alone)':<40} {total:>8.1f} s")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
