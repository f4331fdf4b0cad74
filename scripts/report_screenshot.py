"""Regenerate the README's picture of the HTML report: colossus1 solved with shadow prices, rendered
by planner.htmlreport, photographed in headless Chromium (Debian's `chromium`, driven by Playwright).

    python scripts/report_screenshot.py            # writes docs/report-colossus1.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # tests/browser.py launches Chromium for the tests too

from browser import chromium

from planner.api import solve
from planner.htmlreport import render_plan
from planner.instance import load_instance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default=str(ROOT / "instances" / "colossus1.yaml"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "report-colossus1.png"))
    parser.add_argument("--height", type=int, default=1500, help="pixels of the page's top to keep")
    args = parser.parse_args()
    inst = load_instance(args.instance)
    page_html = render_plan(solve(inst, duals=True).to_dict(), inst)
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        path = Path(tmp) / "report.html"
        path.write_text(page_html, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1100, "height": args.height})
        page.goto(path.as_uri())
        page.wait_for_function("[...document.querySelectorAll('.chart')].every(c => c.querySelector('.main-svg'))")
        page.screenshot(path=args.out)
    print(f"{args.out}: top {args.height} px of the report of {inst.name}")


if __name__ == "__main__":
    main()
