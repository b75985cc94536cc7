"""Check the built HTML as a reader sees it, and take a screenshot of every page (#17).

    python tests/built_pages.py _build/html                      # text checks of every chapter page
    python tests/built_pages.py _build/html --shots /tmp/shots   # and a full-page PNG of each

The text checks (:func:`page_problems`, tested in ``test_built_pages.py``) look for what a reader
would see and should not: a code cell ending in ``results.glue(...)`` that echoes a bare value
into the page, a cell that shows the same figure twice, "nan" or "+- 0.0" in the prose, a
``{glue`` role left unresolved, an image whose file is missing. The screenshots need Chromium (Debian's ``chromium``) and the ``playwright`` package;
they are for a person to look at and stay out of the repository.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from bs4 import BeautifulSoup

GLUE_LAST_LINE = re.compile(r"^\s*\w+\.glue\(")
NAN_WORD = re.compile(r"(?<![\w.])nan(?![\w])")   # how Python prints a NaN glued value
PLUS_MINUS_ZERO = re.compile(r"(\+-|±|\+/-)\s*0\.0+(?!\d*[1-9])")


def page_problems(html: str, page: Path | None = None) -> list[str]:
    """What a reader would see wrong on one built page (empty when none)."""
    soup = BeautifulSoup(html, "html.parser")
    main = soup.select_one("main") or soup
    problems = []
    for k, cell in enumerate(main.select("div.cell")):
        src = cell.select_one("div.cell_input")
        out = cell.select_one("div.cell_output")
        if src is None or out is None:
            continue
        lines = [ln for ln in src.get_text().splitlines() if ln.strip()]
        if lines and GLUE_LAST_LINE.match(lines[-1]) and out.select("div.output.text_plain"):
            problems.append(f"cell {k}: ends in {lines[-1].strip()[:60]!r} and echoes its value into the page")
        srcs = [img.get("src") for img in out.select("img[src]")]  # the builder names images by content hash
        if len(srcs) != len(set(srcs)):
            problems.append(f"cell {k}: shows the same figure twice (a function that displays it and returns it?)")
    prose = main.__copy__()
    for code in prose.select("div.cell, pre, code, div.highlight"):
        code.decompose()
    text = prose.get_text(" ")
    for rx, what in ((NAN_WORD, "'nan' in the prose"), (PLUS_MINUS_ZERO, "'+- 0.0' in the prose")):
        for m in rx.finditer(text):
            problems.append(f"{what}: ...{text[max(0, m.start() - 60):m.end() + 20].strip()}...")
    if "{glue" in text:
        problems.append("an unresolved {glue} role in the prose")
    if page is not None:
        for img in main.select("img[src]"):
            src = img["src"]
            if not src.startswith(("data:", "http:", "https:")) and not (page.parent / src).exists():
                problems.append(f"missing image file {src}")
    return problems


def check_site(html_dir: Path) -> dict[str, list[str]]:
    """``page_problems`` of every chapter page under ``html_dir/book``."""
    return {p.name: page_problems(p.read_text(encoding="utf-8"), p)
            for p in sorted((html_dir / "book").glob("*.html"))}


def screenshots(html_dir: Path, out_dir: Path, width: int = 1280) -> list[Path]:
    """A full-page PNG of every chapter page, rendered by headless Chromium through playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise SystemExit("screenshots need playwright (pip install playwright) and Chromium "
                         "(apt-get install chromium at /usr/bin/chromium)") from e
    if not Path("/usr/bin/chromium").exists():
        raise SystemExit("screenshots need Chromium at /usr/bin/chromium (apt-get install chromium)")

    out_dir.mkdir(parents=True, exist_ok=True)
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-quic"]
    shots = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        page = browser.new_page(viewport={"width": width, "height": 900})
        for html in sorted((html_dir / "book").glob("*.html")):
            page.goto(html.resolve().as_uri(), wait_until="load")
            shot = out_dir / (html.stem + ".png")
            page.screenshot(path=str(shot), full_page=True)
            shots.append(shot)
        browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html_dir", type=Path)
    ap.add_argument("--shots", type=Path, help="write a full-page PNG of each chapter page here")
    args = ap.parse_args(argv)
    report = check_site(args.html_dir)
    if not report:
        print(f"no chapter pages under {args.html_dir / 'book'}: build the book first")
        return 2
    for name, problems in report.items():
        print(f"{name}: {'ok' if not problems else ''}")
        for p in problems:
            print(f"  - {p}")
    if args.shots:
        for shot in screenshots(args.html_dir, args.shots):
            print(f"screenshot {shot}")
    return 1 if any(report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
