"""The demo's `snakemake --report` HTML, as a user sees it: opened in headless Chromium (Selenium + the system
ChromeDriver), front page and every result entry visited, failing on error text, broken images and console
errors. Screenshots of the front page and of one figure go to $SING_TEST_ARTIFACTS (default
test-artifacts/report/ in the repository).

The report is a single-page React app (Snakemake 9, snakemake/report/html_reporter): every result is a
`results[path]` entry with a caption (HTML from RST) and a data URI; the navbar shows a category's entries,
`app.showResultInfo(path)` (what the report's own caption links call) shows an entry's description, and its
eye button shows an image or HTML result in the content pane, or downloads any other type.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from report_helpers import named_anchors, readme_anchors, readme_tables

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("SING_TEST_ARTIFACTS", REPO / "test-artifacts")) / "report"
# Text that must never reach a user: docutils / Jinja / Python failures rendered into the page.
ERROR_TEXT = re.compile(r"System Message|Docutils|Traceback|Exception|Undefined substitution|Unknown "
                        r"interpreted text role|Error loading caption")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000"]
PARQUET_MIME = "application/vnd.apache.parquet"


def report_results(report: Path) -> dict[str, dict]:
    """The report's `results` object (path -> entry), read from its <script id="results"> block."""
    match = re.search(r'<script id="results">\s*var results = (\{.*?\});?\s*</script>', report.read_text(),
                      flags=re.S)
    assert match, f"{report}: no results block"
    return json.loads(match.group(1))


def test_report_holds_every_figure_and_table(demo_report):
    from sing.outputs import figure_names

    results = report_results(demo_report)
    names = {entry["name"] for entry in results.values()}
    for figure in figure_names():
        assert {f"{figure}.png", f"{figure}.svg", f"{figure}.html"} <= names, figure
    assert {f"{t}.preview.html" for t in readme_tables()} <= names
    for path, entry in results.items():
        assert entry["caption"].strip(), f"{path}: no caption"
        assert not ERROR_TEXT.search(entry["caption"]), f"{path}: {entry['caption']}"
        if path.endswith(".parquet"):
            assert entry["mime_type"] == PARQUET_MIME, path
    embedded = {entry["name"] for entry in results.values() if entry["name"].endswith(".parquet")}
    assert "model_summary.parquet" in embedded and "translator_eval.parquet" not in embedded


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Selenium through the system ChromeDriver; skipped only where Debian's
    chromium / chromium-driver are not installed (.ci/run installs them)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("Chromium or ChromeDriver not installed (apt-get install chromium chromium-driver; "
                    f"found chromium={chromium}, chromedriver={driver_path})")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = ARTIFACTS.parent / ".chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


class Page:
    """Assertions on what the browser currently shows."""

    def __init__(self, driver):
        self.driver = driver

    def wait(self, condition, what: str, timeout: float = 30):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition, message=what)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def check(self, where: str) -> None:
        """No error text, no broken image, no console error anywhere on the page (frames included)."""
        from selenium.webdriver.common.by import By

        text = self.driver.find_element(By.TAG_NAME, "body").text
        match = ERROR_TEXT.search(text)
        assert not match, f"{where}: error text {match.group(0)!r} on the page:\n{text[:3000]}"
        broken = self.js("return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                         ".map(i => i.src.slice(0, 80))")
        assert not broken, f"{where}: broken images {broken}"
        errors = self.console_errors()
        assert not errors, f"{where}: console errors {errors}"


def home(page: Page) -> None:
    """Back to the navbar's main menu (so that the next view is known to be a fresh render)."""
    from selenium.webdriver.common.by import By

    page.js("app.setView({navbarMode: 'menu'})")
    page.wait(lambda d: "results" in (text := d.find_element(By.TAG_NAME, "nav").text.lower())
              and "description" not in text, "navbar menu")


def open_category(page: Page, category: str) -> list:
    """Click a category in the navbar menu; returns the rows of its entry table."""
    from selenium.webdriver.common.by import By

    home(page)
    page.driver.find_element(By.XPATH, f"//nav//a[normalize-space()='{category}']").click()
    return page.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "nav table tbody tr"), f"{category}: entries")


def click(page: Page, element) -> None:
    """Scroll the element to the middle of its scroll container, then click it as a user does: a long caption
    scrolls the navbar, and its sticky title bar would cover a button scrolled to the top edge."""
    page.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def view_entry(page: Page, path: str, results: dict) -> str:
    """Check the description panel of the shown entry, then press its eye button as a user does; returns
    what the content pane showed (img / html) or "download" (other types are offered as typed downloads)."""
    from selenium.webdriver.common.by import By

    entry = results[path]
    nav = page.driver.find_element(By.TAG_NAME, "nav")
    page.wait(lambda d: "description" in nav.text.lower(), f"{path}: description")
    caption = nav.text
    assert not ERROR_TEXT.search(caption), f"{path}: {caption}"
    if entry["name"].endswith((".parquet", ".preview.html")):
        anchors = named_anchors(caption)
        assert anchors and anchors <= readme_anchors(), f"{path}: caption names README sections {anchors}"
        links = [unquote(urlparse(a.get_attribute("href")).path)
                 for a in nav.find_elements(By.CSS_SELECTOR, "a[href$='.parquet']")]
        parquet = path.removesuffix(".preview.html") + ".parquet"
        if path.endswith(".preview.html") and parquet not in results:  # left out: the caption links it
            assert links, f"{path}: the table is not embedded and the caption does not link it"
        for link in links:
            assert Path(link).is_file(), f"{path}: caption links {link}, which does not exist"
    button = nav.find_element(By.CSS_SELECTOR, "a[iconname='eye']")
    mime = entry["mime_type"]
    if mime not in {"image/png", "image/svg+xml", "text/html"}:
        assert button.get_attribute("download") == entry["name"]
        assert button.get_attribute("href").startswith(f"data:{mime}"), (path, mime)
        return "download"
    click(page, button)
    if mime.startswith("image/"):
        page.wait(lambda d: d.execute_script(
            "const i = document.querySelector('#app img:not(nav img)');"
            "return i !== null && i.src === results[arguments[0]].data_uri && i.complete && i.naturalWidth > 0;",
            path), f"{path}: image shown")
        return "img"
    page.wait(lambda d: d.execute_script(
        "const f = document.querySelector('iframe'); return f !== null && f.src === results[arguments[0]].data_uri;",
        path), f"{path}: frame")
    page.driver.switch_to.frame(page.driver.find_element(By.CSS_SELECTOR, "iframe"))
    try:
        page.wait(lambda d: d.execute_script(
            "return document.readyState === 'complete' && document.querySelector('svg, canvas, table') !== null"),
            f"{path}: html content rendered (svg, canvas or table)")
        page.check(f"{path} (frame)")
    finally:
        page.driver.switch_to.default_content()
    return "html"


def test_report_renders_cleanly_in_chromium(demo_report, browser):
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = Page(browser)
    start = time.perf_counter()
    browser.get(demo_report.as_uri())
    page.wait(lambda d: "Semantic Interpretation" in d.find_element(By.TAG_NAME, "body").text, "front page")
    browser.save_screenshot(str(ARTIFACTS / "front_page.png"))
    page.check("front page")
    # The navbar animates its width ("transition-all"): a click computed mid-transition lands beside its target.
    page.js("const s = document.createElement('style'); s.textContent = '* { transition: none !important; "
            "animation: none !important; }'; document.head.appendChild(s);")

    results = page.js("return results")
    assert results, "the report lists no results"
    shown: dict[str, str] = {}
    try:
        browse_every_entry(page, results, shown)
    except Exception:
        browser.save_screenshot(str(ARTIFACTS / "failure.png"))
        raise
    elapsed = time.perf_counter() - start
    kinds = {kind: sum(v == kind for v in shown.values()) for kind in sorted(set(shown.values()))}
    print(f"\nreport {demo_report.stat().st_size / 1e6:.1f} MB, {len(shown)} entries {kinds}, "
          f"browsed in {elapsed:.1f} s; screenshots in {ARTIFACTS}")
    assert set(shown) == set(results)
    assert (ARTIFACTS / "figure_ratio_scatter.png").is_file()
    assert kinds.get("img", 0) >= 24 and kinds.get("html", 0) >= 12 and kinds.get("download", 0) >= 1


def browse_every_entry(page: Page, results: dict, shown: dict) -> None:
    """Every category from the navbar menu, every row's description and view; then any entry a label toggle
    hid. Records in `shown` what each entry showed."""
    from selenium.webdriver.common.by import By

    browser = page.driver
    for category in page.js("return Object.keys(categories)"):
        n_rows = len(open_category(page, category))
        page.check(f"category {category}")
        for row in range(n_rows):
            rows = open_category(page, category)  # the description panel replaced the table: open it again
            click(page, rows[row].find_element(By.CSS_SELECTOR, "a[iconname='information-circle']"))
            path = page.wait(lambda d: d.execute_script(
                "return app.state.navbarMode === 'resultinfo' && app.state.resultPath"), f"{category} row {row}")
            shown[path] = view_entry(page, path, results)
            page.check(path)
            if results[path]["name"] in {"ratio_scatter.png", "model_summary.preview.html"}:
                name = results[path]["name"].split(".")[0]
                browser.save_screenshot(str(ARTIFACTS / f"{'figure' if 'figures/' in path else 'table'}_{name}.png"))
    for path in sorted(set(results) - set(shown)):  # rows hidden behind a two-value label toggle
        home(page)
        page.js("app.showResultInfo(arguments[0])", path)  # what the report's own caption links call
        shown[path] = view_entry(page, path, results)
        page.check(path)
