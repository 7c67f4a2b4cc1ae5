"""The HTML report as a person sees it, in headless Chromium: the run summary, the matrix renders, filters hide
rows, claims not run stay hidden until asked for, a cell's detail opens with links to the claim's catalog entry and
test source, the filters and the open cell live in the URL, and a 100 x 40 matrix keeps its headers in view while
scrolling.

Needs Debian's chromium (.ci/run installs it) and the playwright package (it drives the system browser;
no browser download). A screenshot is kept in reports/out/screenshots/.
"""

from __future__ import annotations

import copy
import json
import shlex
import shutil
from pathlib import Path
from urllib.parse import quote

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


def open_matrix(page, matrix: dict, directory: Path, fragment: str = "") -> None:
    path = directory / "report.html"
    path.write_text(html.render(matrix))
    page.goto(path.as_uri() + fragment)
    page.wait_for_selector("#matrix tr.row", state="attached")


def ran(matrix: dict) -> list[str]:
    """The claims some column ran, in the page's order (grouped by topic)."""
    topics = list(dict.fromkeys(c["topic"] for c in matrix["claims"]))
    run = {cell["claim"] for cell in matrix["results"] if cell["verdict"] != "not run"}
    return [c["id"] for topic in topics for c in matrix["claims"] if c["topic"] == topic and c["id"] in run]


def fragment(page) -> dict[str, str]:
    """The page's URL fragment as the page writes it (key=value pairs joined by '&')."""
    return dict(part.split("=", 1) for part in page.evaluate("location.hash").lstrip("#").split("&") if part)


def visible_rows(page) -> list[str]:
    return page.eval_on_selector_all("#matrix tr.row:not([hidden])", "rows => rows.map(r => r.dataset.claim)")


def test_matrix_renders_every_claim_and_column(page, run_matrix, tmp_path):
    open_matrix(page, run_matrix, tmp_path)
    page.check("#show-not-run")
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


def test_claims_not_run_are_hidden_until_asked_for(page, run_matrix, tmp_path):
    open_matrix(page, run_matrix, tmp_path)
    shown = ran(run_matrix)
    assert sorted(shown) == ["EOF-1", "FORK-2", "SYNC-4"]  # the claims real_run selects
    assert visible_rows(page) == shown
    not_run = len(run_matrix["claims"]) - len(shown)
    assert page.inner_text("#not-run").strip() == f"{not_run} claims not run — show"
    assert page.inner_text("#shown") == f"{len(shown)} of {len(run_matrix['claims'])} claims shown"
    page.check("#show-not-run")
    assert len(visible_rows(page)) == len(run_matrix["claims"]) and fragment(page) == {"notrun": "1"}
    page.uncheck("#show-not-run")
    assert visible_rows(page) == shown and fragment(page) == {}
    page.select_option("#verdict", "not run")  # asking for that verdict shows them too
    assert "OPEN-1" in visible_rows(page) and "SYNC-4" not in visible_rows(page)


def test_summary_shows_the_run(page, run_matrix, tmp_path):
    open_matrix(page, run_matrix, tmp_path)
    run = run_matrix["columns"][0]["run"]
    summary = page.locator("#summary")
    assert summary.is_visible() and summary.locator("tbody tr").count() == 1  # one run, whatever its targets
    assert summary.locator("td.profile").inner_text() == run["hypothesis_profile"] == "ci"
    assert summary.locator("td.argv").inner_text() == shlex.join(["pytest", *run["argv"]])
    assert "-k 'SYNC-4 or EOF-1 or FORK-2'" in summary.locator("td.argv").inner_text()
    assert summary.locator("td.commit").inner_text().startswith(run["mmapconf_commit"] or "unknown")
    assert summary.locator("td.duration").inner_text() == f"{run['duration_s']:.1f} s"
    assert run_matrix["columns"][0]["kernel_release"] in summary.locator("td.host").inner_text()


def test_fragment_restores_filters_and_the_open_cell(page, run_matrix, tmp_path):
    twice = merge([run_matrix, run_matrix])  # the second run's columns have IDs ending in '#2'
    column = twice["columns"][-1]["id"]
    assert column.endswith("#2")
    open_matrix(page, twice, tmp_path, f"#topic=sync&verdict=holds&open=SYNC-4&column={quote(column, safe='/')}")
    assert page.input_value("#topic") == "sync" and page.input_value("#verdict") == "holds"
    assert visible_rows(page) == ["SYNC-4"]
    detail = page.locator("#detail")
    assert detail.is_visible() and detail.locator("h2").inner_text().startswith("SYNC-4 — ")
    assert f"on {column}" in detail.inner_text()
    page.evaluate("location.hash = '#q=fork-2&notrun=1'")  # as when a link to the page is followed again
    page.wait_for_function("document.getElementById('search').value === 'fork-2'")
    assert visible_rows(page) == ["FORK-2"] and page.is_checked("#show-not-run") and page.input_value("#topic") == ""
    assert detail.is_hidden()
    page.evaluate("location.hash = '#fs=no-such-fs&open=NOPE-1'")  # what this page does not have is dropped
    page.wait_for_function("document.getElementById('search').value === ''")
    assert page.input_value("#fs") == "" and fragment(page) == {} and detail.is_hidden()


def test_filters_and_the_open_cell_update_the_fragment(page, run_matrix, tmp_path):
    open_matrix(page, run_matrix, tmp_path)
    assert fragment(page) == {}
    page.select_option("#verdict", "holds")
    page.fill("#search", "MS_SYNC|MS_ASYNC fails")
    assert visible_rows(page) == ["SYNC-4"]
    assert fragment(page) == {"verdict": "holds", "q": "MS_SYNC%7CMS_ASYNC%20fails"}
    page.click("#matrix tr.row[data-claim='SYNC-4'] td.cell >> nth=1")
    assert fragment(page) == {"verdict": "holds", "q": "MS_SYNC%7CMS_ASYNC%20fails", "open": "SYNC-4",
                              "column": quote(run_matrix["columns"][1]["id"], safe="/")}
    page.keyboard.press("Escape")
    page.click("#matrix tr.row[data-claim='SYNC-4'] th.claim")
    assert fragment(page) == {"verdict": "holds", "q": "MS_SYNC%7CMS_ASYNC%20fails", "open": "SYNC-4"}
    page.click("#close")
    page.select_option("#verdict", "")
    page.fill("#search", "")
    page.check("#only-differ")
    assert fragment(page) == {"differ": "1"}
    page.select_option("#fs", run_matrix["columns"][0]["fs_type"])
    assert fragment(page)["fs"] == run_matrix["columns"][0]["fs_type"]
    assert page.locator("#matrix thead th:visible").count() == 2  # the claim column and that filesystem's


def catalog_line(claim: str) -> tuple[str, int]:
    """Where the claim's [[claim]] entry starts, read from the catalog file itself."""
    for path in sorted((ROOT / "suite" / "claims").glob("*.toml")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if line == f'id = "{claim}"':
                header = next(n for n in range(number, 0, -1) if lines[n - 1] == "[[claim]]")
                return str(path.relative_to(ROOT)), header
    raise AssertionError(f"{claim} is not in the catalog")


def test_links_point_at_the_catalog_entry_and_the_test(page, run_matrix, tmp_path):
    open_matrix(page, run_matrix, tmp_path)
    page.click("#matrix tr.row[data-claim='SYNC-4'] td.cell >> nth=0")
    entry, test = page.locator("#detail .catalog-entry a"), page.locator("#detail .test-source a")
    file, line = catalog_line("SYNC-4")
    assert entry.inner_text() == f"{file}:{line}"
    assert entry.get_attribute("href") == (ROOT / file).as_uri()  # no repository known: the checkout's file
    assert test.count() == 1
    test_file, test_line = test.inner_text().split(":")
    assert test_file == "suite/test_sync.py" and test.get_attribute("href") == (ROOT / test_file).as_uri()
    assert (ROOT / test_file).read_text().splitlines()[int(test_line) - 1] == '@pytest.mark.claim("SYNC-4")'

    published = copy.deepcopy(run_matrix)
    for column in published["columns"]:
        column["run"].update(mmapconf_commit="0123abc", source=dict(column["run"]["source"],
                                                                     repository="https://github.com/example/mmapconf"))
    (tmp_path / "published").mkdir()  # another page: going to the same one with a fragment would not reload it
    open_matrix(page, published, tmp_path / "published", "#open=SYNC-4")  # the claim's own panel links too
    blob = "https://github.com/example/mmapconf/blob/0123abc"
    assert page.get_attribute("#detail .catalog-entry a", "href") == f"{blob}/{file}#L{line}"
    assert page.get_attribute("#detail .test-source a", "href") == f"{blob}/{test_file}#L{test_line}"
