"""The web viewer end to end: the real server on a curated corpus, driven by a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from humannet.corpus.reader import open_corpus
from humannet.viewer.server import make_server
from tests.sample_corpus import sample_corpus

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, examples_dir) -> Path:
    return sample_corpus(tmp_path_factory, examples_dir)


def _serve(corpus_dir: Path, cache: Path):
    server = make_server(open_corpus(corpus_dir), port=0, cache_dir=cache)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}"


@pytest.fixture(scope="module")
def viewer(corpus, tmp_path_factory):
    server, url = _serve(corpus, tmp_path_factory.mktemp("thumbs"))
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def broken_viewer(corpus, tmp_path_factory):
    """A copy of the corpus whose shard file is gone (deleted after curation)."""
    copy = tmp_path_factory.mktemp("broken") / "corpus"
    shutil.copytree(corpus, copy)
    for shard in (copy / "shards").glob("*.tar"):
        shard.unlink()
    server, url = _serve(copy, tmp_path_factory.mktemp("thumbs-broken"))
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (`make test` installs the Debian chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _clips(corpus: Path, where: str = "true") -> list[dict]:
    return (
        duckdb.sql(f"SELECT * FROM '{corpus}/clips/*.parquet' WHERE {where} ORDER BY clip_id")
        .to_arrow_table()
        .to_pylist()
    )


def test_api_filters_match_duckdb_over_the_index(corpus, viewer):
    status, _, body = _get(f"{viewer}/api/facets")
    facets = json.loads(body)
    assert status == 200 and facets["clips"] == len(_clips(corpus))
    columns = {f["column"] for f in facets["labels"]}
    assert {"viewpoint", "motion_categories"} <= columns
    assert any(s["column"] == "blur_score" for s in facets["scores"])
    blur_min = sorted(c["blur_score"] for c in _clips(corpus))[1]
    _, _, body = _get(f"{viewer}/api/clips?s.blur_score={blur_min},")
    assert json.loads(body)["total"] == len(_clips(corpus, f"blur_score >= {blur_min}"))
    viewpoint = _clips(corpus)[0]["viewpoint"]
    _, _, body = _get(f"{viewer}/api/clips?f.viewpoint={viewpoint}&q=juggling")
    page = json.loads(body)
    assert page["total"] == len(
        _clips(
            corpus,
            f"viewpoint = '{viewpoint}' AND video_id IN (SELECT video_id FROM '{corpus}/videos.parquet' WHERE title "
            "ILIKE '%juggling%')",
        )
    )
    assert page["total"] >= 1 and all(c["media"] == "ok" for c in page["clips"])
    status, _, body = _get(f"{viewer}/api/clips?f.no_such_label=x")
    assert status == 400 and "no_such_label" in json.loads(body)["error"]
    status, _, body = _get(f"{viewer}/api/clip/not_a_clip")
    assert status == 404 and "not_a_clip" in json.loads(body)["error"]


def test_clip_media_is_served_with_ranges_from_the_shard(corpus, viewer):
    clip = _clips(corpus)[0]
    import tarfile

    with tarfile.open(corpus / clip["shard"]) as tar:
        mp4 = tar.extractfile(f"{clip['clip_id']}.mp4").read()
    status, headers, body = _get(f"{viewer}/media/{clip['clip_id']}.mp4")
    assert status == 200 and body == mp4 and headers["Accept-Ranges"] == "bytes"
    status, headers, body = _get(f"{viewer}/media/{clip['clip_id']}.mp4", {"Range": "bytes=1000-1999"})
    assert status == 206 and body == mp4[1000:2000] and headers["Content-Range"] == f"bytes 1000-1999/{len(mp4)}"
    status, _, body = _get(f"{viewer}/media/{clip['clip_id']}.mp4", {"Range": "bytes=-100"})
    assert status == 206 and body == mp4[-100:]
    status, headers, _ = _get(f"{viewer}/media/{clip['clip_id']}.mp4", {"Range": f"bytes={len(mp4)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(mp4)}"
    status, headers, body = _get(f"{viewer}/thumb/{clip['clip_id']}.jpg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    status, _, body = _get(f"{viewer}/api/clip/{clip['clip_id']}/pose")
    pose = json.loads(body)
    assert status == 200 and len(pose["times"]) == len(pose["body"]) == len(pose["hands"]) > 0
    assert len(pose["body"][0]) == 33 and len(pose["hands"][0]) == 2


def test_browser_filters_opens_a_clip_plays_it_and_draws_keypoints(corpus, viewer, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(viewer)
    all_clips = _clips(corpus)
    page.wait_for_function(f"document.querySelectorAll('.clip-card').length === {len(all_clips)}")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.clip-card img')).every(img => img.complete && img.naturalWidth > 0)"
    )

    if "caption_short" in all_clips[0]:  # text search over captions and titles, as DuckDB counts it
        searched = "caption_short, caption_detailed, activity_class, v.title"

        def matching(word: str) -> int:
            return duckdb.sql(
                f"SELECT count(*) FROM '{corpus}/clips/*.parquet' c LEFT JOIN '{corpus}/videos.parquet' v USING "
                f"(video_id) WHERE concat_ws(' ', {searched}) ILIKE '%{word}%'"
            ).fetchall()[0][0]

        # the first clip's most selective caption word, so the search visibly narrows the grid
        # when the captions allow it
        words = {
            w.strip(".,") for w in (all_clips[0]["caption_short"] or "clip").split() if len(w.strip(".,")) >= 4
        } or {"clip"}
        word = min(sorted(words), key=lambda w: (matching(w), -len(w)))
        expected_total = matching(word)
        assert expected_total >= 1
        page.fill("#search", word)
        # wait for the search itself to land in the URL (not just a count that may already have been on screen)
        page.wait_for_function(
            f"new URLSearchParams(location.hash.split('?')[1] || '').get('q') === {json.dumps(word)}"
        )
        page.wait_for_function(f"document.querySelector('#result-count').dataset.total === '{expected_total}'")
        page.click("#clear-filters")
        page.wait_for_function("location.hash === '#/' && document.querySelector('#search').value === ''")
        page.wait_for_function(f"document.querySelector('#result-count').dataset.total === '{len(all_clips)}'")

    label = next(c["motion_categories"][0] for c in all_clips if c["motion_categories"])
    expected = [c["clip_id"] for c in all_clips if label in c["motion_categories"]]
    page.check(f"input[data-facet='motion_categories'][value='{label}']")
    page.wait_for_function(
        f"new URLSearchParams(location.hash.split('?')[1]).getAll('f.motion_categories').join() === {json.dumps(label)}"
    )
    page.wait_for_function(f"document.querySelector('#result-count').dataset.total === '{len(expected)}'")
    page.wait_for_function(f"document.querySelectorAll('.clip-card').length === {len(expected)}")
    shown = page.eval_on_selector_all(".clip-card", "cards => cards.map(c => c.dataset.clipId)")
    assert shown == expected
    page.screenshot(path=str(tmp_path / "grid.png"))

    grid_hash = page.evaluate("location.hash")
    page.click(f".clip-card[data-clip-id='{expected[0]}']")
    page.wait_for_selector("#clip-view:not([hidden])")
    clip_hash = page.evaluate("location.hash")
    assert clip_hash == f"#/clip/{expected[0]}"
    page.wait_for_function("document.querySelector('#player').readyState >= 2")
    page.wait_for_function("window.viewerState.pose !== null")
    page.evaluate("document.querySelector('#player').play()")
    page.wait_for_function("document.querySelector('#player').currentTime > 0.5", timeout=30_000)
    page.wait_for_function("window.viewerState.framesDrawn >= 3", timeout=30_000)
    played = page.evaluate(
        "() => { const v = document.querySelector('#player'); v.pause(); return {time: v.currentTime, ready: "
        "v.readyState}; }"
    )
    assert played["ready"] >= 2 and played["time"] > 0.5
    # seek to a sample where the body was seen: the overlay must show it there
    seen = page.evaluate(
        """() => {
        const p = window.viewerState.pose;
        return p.times[p.body.findIndex(b => b.filter(k => k[0] !== null && k[2] >= 0.5).length >= 10)];
    }"""
    )
    page.evaluate(f"document.querySelector('#player').currentTime = {seen}")
    page.wait_for_function("Number(document.querySelector('#overlay').dataset.drawnKeypoints) >= 10")
    state = page.evaluate(
        """() => {
        const canvas = document.querySelector('#overlay');
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let opaque = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) opaque += 1;
        return {width: canvas.width, opaque, drawn: Number(canvas.dataset.drawnKeypoints)};
    }"""
    )
    assert state["width"] > 0 and state["opaque"] > 200
    labels = page.eval_on_selector_all("#labels tbody tr", "rows => rows.map(r => r.dataset.label)")
    assert "viewpoint" in labels and "motion_categories" in labels
    assert "Football juggling" in page.inner_text("#source")
    if all_clips[0].get("caption_short"):
        assert page.locator("#caption-tree li").count() > 0
    page.screenshot(path=str(tmp_path / "clip.png"))
    assert (tmp_path / "clip.png").stat().st_size > 10_000
    # still on the clip: nothing navigated away
    assert page.evaluate("location.hash") == clip_hash and page.is_visible("#clip-view")
    page.click("#back")  # back to the same filtered grid
    page.wait_for_function(
        f"location.hash === {json.dumps(grid_hash)} && document.querySelectorAll('.clip-card').length === "
        f"{len(expected)}"
    )
    assert page.is_checked(f"input[data-facet='motion_categories'][value='{label}']")
    assert errors == []
    page.close()


def test_a_search_still_pending_when_a_clip_is_opened_does_not_leave_the_clip(corpus, viewer, browser):
    clip_id = _clips(corpus)[0]["clip_id"]
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(viewer)
    page.wait_for_function(f"document.querySelectorAll('.clip-card').length === {len(_clips(corpus))}")
    # type and open a clip in the same task, so the debounced search is certainly still pending when the clip opens
    page.evaluate(
        f"""() => {{
        const search = document.querySelector('#search');
        search.value = 'person';
        search.dispatchEvent(new Event('input', {{bubbles: true}}));
        document.querySelector(".clip-card[data-clip-id='{clip_id}']").click();
    }}"""
    )
    page.wait_for_selector("#clip-view:not([hidden])")
    page.wait_for_function("document.querySelector('#player').readyState >= 2")
    page.evaluate("document.querySelector('#player').play()")
    # play well past the search's delay, or stop early if the page navigated away from the clip
    page.wait_for_function(
        f"document.querySelector('#player').currentTime > 0.5 || location.hash !== '#/clip/{clip_id}'", timeout=30_000
    )
    assert page.evaluate("location.hash") == f"#/clip/{clip_id}" and page.is_visible("#back")
    page.click("#back")
    page.wait_for_function(f"document.querySelectorAll('.clip-card').length === {len(_clips(corpus))}")
    assert page.input_value("#search") == ""  # the grid shows what its URL says
    assert errors == []
    page.close()


def test_missing_shard_gives_placeholders_and_json_404s(corpus, broken_viewer, browser, tmp_path):
    clip = _clips(corpus)[0]
    status, _, body = _get(f"{broken_viewer}/media/{clip['clip_id']}.mp4")
    assert status == 404 and "missing" in json.loads(body)["error"] and clip["shard"] in json.loads(body)["error"]
    status, _, body = _get(f"{broken_viewer}/thumb/{clip['clip_id']}.jpg")
    assert status == 404 and "missing" in json.loads(body)["error"]
    status, _, body = _get(f"{broken_viewer}/api/clip/{clip['clip_id']}")
    assert status == 200 and "missing" in json.loads(body)["media"]["state"]

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(broken_viewer)
    page.wait_for_function(f"document.querySelectorAll('.clip-card .placeholder').length === {len(_clips(corpus))}")
    page.click(f".clip-card[data-clip-id='{clip['clip_id']}']")
    page.wait_for_selector("#media-placeholder:not([hidden])")
    assert "missing" in page.inner_text("#media-placeholder")
    assert page.is_hidden("#player")
    page.screenshot(path=str(tmp_path / "missing.png"))
    assert errors == []
    page.close()
    status, _, _ = _get(f"{broken_viewer}/api/facets")
    assert status == 200  # still serving
