"""`humannet report`: one self-contained HTML file with real plots and thumbnails, that renders offline."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from humannet.cli import main

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
CHROMIUM_FLAGS += ["--disable-sync"]


@pytest.fixture(scope="module")
def report(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(main, ["report", str(corpus), "-o", str(out), "--thumbnails", "4"])
    assert result.exit_code == 0, result.output
    return out


def test_report_is_self_contained_with_plots_and_thumbnails(report, corpus):
    text = report.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=\s*[\"']?(https?:)?//", text, re.IGNORECASE)
    assert text.count("<script") >= 2 and "Plotly.newPlot" in text
    assert len(re.findall(r'class="plotly-graph-div"', text)) >= 5
    for title in ("Hours at each step", "Duration histograms", "viewpoint", "motion_categories", "Score distributions"):
        assert title in text
    thumbnails = re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", text)
    clips = pq.read_table(corpus / "clips", columns=["clip_id"]).column("clip_id").to_pylist()
    assert len(set(thumbnails)) == len(clips)  # every clip appears in some category; each decoded once per clip
    image = cv2.imdecode(np.frombuffer(base64.b64decode(thumbnails[0]), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 192 and image.std() > 5  # a real frame, not a blank


@pytest.mark.skipif(not CHROMIUM.exists() or shutil.which("chromium") is None, reason="needs Debian chromium")
def test_report_renders_offline_in_chromium(report, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route("http*://**", lambda route: (requests.append(route.request.url), route.abort()))
        page.goto(report.as_uri())
        page.wait_for_function("document.querySelectorAll('.plotly-graph-div .main-svg').length >= 5", timeout=30000)
        loaded = page.evaluate("[...document.images].filter(i => i.complete && i.naturalWidth > 0).length")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert requests == [] and errors == []
    assert loaded >= 3
    assert (tmp_path / "report.png").stat().st_size > 10000
