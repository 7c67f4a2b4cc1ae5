"""The HTML report as a person sees it, in headless Chromium: the matrix renders, filters hide rows,
a cell's detail opens, and a 100 x 40 matrix keeps its headers in view while scrolling.

Needs Debian's chromium (.ci/run installs it) and the playwright package (it drives the system browser;
no browser download). A screenshot is kept in reports/out/screenshots/.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from reports import html
from reports.matrix import from_run, merge
from tests.reporting import ROOT, real_run, synthetic

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
SCREENSHOTS = ROOT / "reports" / "out" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    yield page
    page.close()


@pytest.fixture(scope="module")
def run_matrix(tmp_path_factory) -> dict:
    return from_run(json.loads(real_run(tmp_path_factory.mktemp("run")).read_text()))


def open_matrix(page, matrix: dict, directory: Path) -> None:
    path = directory / "report.html"
    path.write_text(html.render(matrix))
    page.goto(path.as_uri())
    page.wait_for_selector("#matrix tr.row")


def visible_rows(page) -> list[str]:
    return page.eval_on_selector_all("#matrix tr.row:not([hidden])", "rows => rows.map(r => r.dataset.claim)")


def test_matrix_renders_every_claim_and_column(page, run_matrix, tmp_path):
    open_matrix(page, run_matrix, tmp_path)
    topics = list(dict.fromkeys(c["topic"] for c in run_matrix["claims"]))  # rows are grouped by topic
    assert visible_rows(page) == [c["id"] for topic in topics for c in run_matrix["claims"] if c["topic"] == topic]
    assert page.locator("#matrix thead th").count() == len(run_matrix["columns"]) + 1
    assert page.locator("#matrix tr.row[data-claim='SYNC-4'] td.v-holds").count() == len(run_matrix["columns"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "matrix.png"))


def test_filters_hide_rows(page, run_matrix, tmp_path):
    open_matrix(page, run_matrix, tmp_path)
    page.select_option("#verdict", "holds")
    shown = visible_rows(page)
    assert "SYNC-4" in shown and "OPEN-6" not in shown  # OPEN-6 was not run: no 'holds' cell
    page.select_option("#verdict", "")
    page.select_option("#topic", "sync")
    assert visible_rows(page) and all(claim.startswith("SYNC-") for claim in visible_rows(page))
    assert page.locator("#matrix tr.topic:not([hidden])").count() == 1
    page.select_option("#topic", "")
    page.fill("#search", "fork-2")
    assert visible_rows(page) == ["FORK-2"]


def test_only_rows_that_differ(page, run_matrix, tmp_path):
    changed = copy.deepcopy(run_matrix)
    for column in changed["columns"]:
        column["kernel_release"] = "6.1.0-99-amd64"
    for cell in changed["results"]:
        if cell["claim"] == "EOF-1":
            cell["verdict"] = "refuted"
    open_matrix(page, merge([run_matrix, changed]), tmp_path)
    page.check("#only-differ")
    assert visible_rows(page) == ["EOF-1"]


def test_cell_detail_opens(page, run_matrix, tmp_path):
    open_matrix(page, run_matrix, tmp_path)
    assert page.locator("#detail").is_hidden()
    page.click("#matrix tr.row[data-claim='SYNC-4'] td.cell >> nth=0")
    detail = page.locator("#detail")
    assert detail.is_visible()
    statement = next(c["statement"] for c in run_matrix["claims"] if c["id"] == "SYNC-4")
    for text in (statement, "Sources", "Authoritative reference", "Platform", "holds"):
        assert text in detail.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "cell-detail.png"))
    page.keyboard.press("Escape")
    assert detail.is_hidden()


def test_large_matrix_keeps_headers_in_view(page, run_matrix, tmp_path):
    open_matrix(page, synthetic(run_matrix, 100, 40), tmp_path)
    assert len(visible_rows(page)) == 100
    scroller = page.locator("#scroller")
    top = scroller.bounding_box()["y"]
    scroller.evaluate("s => { s.scrollTop = s.scrollHeight; s.scrollLeft = s.scrollWidth; }")
    header = page.locator("#matrix thead th >> nth=5").bounding_box()
    first_column = page.locator("#matrix tr.row[data-claim='BIG-99'] th.claim").bounding_box()
    assert abs(header["y"] - top) < 2, "the column headers scrolled out of view"
    assert abs(first_column["x"] - scroller.bounding_box()["x"]) < 2, "the claim column scrolled out of view"
    page.screenshot(path=str(SCREENSHOTS / "large-matrix-scrolled.png"))
