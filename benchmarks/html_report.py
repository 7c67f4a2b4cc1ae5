"""Benchmark: how long the HTML report of a large matrix takes to build and to load in headless Chromium.

    python benchmarks/html_report.py RUN.json [CLAIMS COLUMNS]

Prints figures; decides nothing (timings are never test verdicts).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright  # noqa: E402

from reports import html  # noqa: E402
from reports.matrix import from_run  # noqa: E402
from tests.reporting import synthetic  # noqa: E402


def main() -> None:
    run = json.loads(Path(sys.argv[1]).read_text())
    claims, columns = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (100, 40)
    started = time.perf_counter()
    page_text = html.render(synthetic(from_run(run), claims, columns))
    built = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as directory, sync_playwright() as playwright:
        path = Path(directory) / "report.html"
        path.write_text(page_text)
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        loads = []
        for _ in range(5):
            started = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector("#matrix tr.row", state="attached")
            loads.append(time.perf_counter() - started)
        filter_started = time.perf_counter()
        page.select_option("#verdict", "refuted")
        filtered = time.perf_counter() - filter_started
        browser.close()
    print(f"{claims} claims x {columns} columns: page {len(page_text) / 1e6:.2f} MB, built in {built * 1000:.0f} ms")
    print(f"load to rendered matrix: median {sorted(loads)[2] * 1000:.0f} ms (min {min(loads) * 1000:.0f}, max {max(loads) * 1000:.0f}) over 5 loads")
    print(f"verdict filter: {filtered * 1000:.0f} ms")


if __name__ == "__main__":
    main()
