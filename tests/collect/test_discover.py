"""Search and channel crawling: flat listing, filters, full metadata only for candidates that pass.

Search runs on recorded extractor output the tests write (`yt-dlp -J` style JSON Lines); channel
crawling runs yt-dlp for real against HTML pages on the local server, recording its answers,
and the recording replays to the same pool.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from humannet.collect.discover import Discovery, DiscoverySummary
from humannet.collect.extractor import RecordedExtractor
from humannet.collect.listings import search_listings
from humannet.collect.pool import Pool, State
from humannet.collect.settings import CollectConfig
from tests.collect.http_server import Resource

HUMANNET = str(Path(sys.executable).parent / "humannet")


def flat_entry(video_id: str, title: str, duration: float | None = 120.0, channel: str = "Kitchen Basics") -> dict:
    """A flat search entry as `yt-dlp -J --flat-playlist ytsearchN:...` prints it."""
    return {
        "_type": "url",
        "ie_key": "Youtube",
        "id": video_id,
        "url": f"https://www.youtube.com/watch?v={video_id}",
        "title": title,
        "duration": duration,
        "channel": channel,
        "channel_id": "UC" + channel.replace(" ", ""),
        "view_count": 1000,
    }


def full_info(
    video_id: str, title: str, license: str | None, height: int, language: str = "en", duration: float = 120.0
) -> dict:
    """Full metadata as `yt-dlp -J URL` prints it (the fields humannet reads, plus formats)."""
    return {
        "_type": "video",
        "id": video_id,
        "extractor_key": "Youtube",
        "extractor": "youtube",
        "webpage_url": f"https://www.youtube.com/watch?v={video_id}",
        "original_url": f"https://www.youtube.com/watch?v={video_id}",
        "title": title,
        "description": f"{title}, filmed with a head-mounted camera.",
        "tags": ["baking", "bread"],
        "channel": "Kitchen Basics",
        "channel_id": "UCKitchenBasics",
        "license": license,
        "upload_date": "20240131",
        "duration": duration,
        "view_count": 1000,
        "language": language,
        "formats": [
            {"format_id": "18", "height": min(height, 360), "vcodec": "avc1"},
            {"format_id": "22", "height": height, "vcodec": "avc1"},
        ],
    }


def write_recording(path: Path) -> None:
    search = {
        "_type": "playlist",
        "id": "knead dough POV",
        "title": "knead dough POV",
        "extractor_key": "YoutubeSearch",
        "original_url": "ytsearch5:knead dough POV",
        "webpage_url": "ytsearch5:knead dough POV",
        "entries": [
            flat_entry("aaaaaaaaaa1", "Kneading sourdough by hand, POV"),
            flat_entry("aaaaaaaaaa2", "Best bread fails COMPILATION"),  # blocklist: rejected before full metadata
            flat_entry("aaaaaaaaaa3", "Kneading dough for pizza", duration=1.5),  # too short
            flat_entry("aaaaaaaaaa4", "Kneading brioche dough"),  # standard licence: fails the allow-list
            flat_entry("aaaaaaaaaa5", "Kneading rye dough in 240p"),  # too low resolution
        ],
    }
    lines = [
        search,
        full_info(
            "aaaaaaaaaa1",
            "Kneading sourdough by hand, POV",
            "Creative Commons Attribution license (reuse allowed)",
            720,
        ),
        full_info("aaaaaaaaaa4", "Kneading brioche dough", None, 1080),
        full_info(
            "aaaaaaaaaa5", "Kneading rye dough in 240p", "Creative Commons Attribution license (reuse allowed)", 240
        ),
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


class CountingExtractor(RecordedExtractor):
    """The replay extractor, remembering which URLs were asked for in full."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.full: list[str] = []

    def extract(self, url: str, flat: bool) -> dict:
        if not flat:
            self.full.append(url)
        return super().extract(url, flat)


def test_search_filters_flat_entries_then_full_metadata_and_records_every_reason(tmp_path):
    recording = tmp_path / "recording.jsonl"
    write_recording(recording)
    config = CollectConfig(licenses=["creative commons"])
    extractor = CountingExtractor(recording)
    summary = DiscoverySummary()
    with Pool(tmp_path / "pool.sqlite") as pool:
        discovery = Discovery(pool, extractor, config)
        discovery.crawl(search_listings(["knead dough POV"], "ytsearch", 5), summary)
        for video_id in discovery.pending():
            discovery.resolve(video_id, summary)
        rows = {row.id: row for row in pool.rows()}
        provenance = pool.provenance("youtube:aaaaaaaaaa1")
    assert {i: (r.state, (r.reason or "").split(":")[0]) for i, r in rows.items()} == {
        "youtube:aaaaaaaaaa1": (State.QUEUED, ""),
        "youtube:aaaaaaaaaa2": (State.FILTERED, "blocklist"),
        "youtube:aaaaaaaaaa3": (State.FILTERED, "duration"),
        "youtube:aaaaaaaaaa4": (State.FILTERED, "license"),
        "youtube:aaaaaaaaaa5": (State.FILTERED, "resolution"),
    }
    # full metadata only for the entries that passed the flat filters
    assert sorted(extractor.full) == [f"https://www.youtube.com/watch?v=aaaaaaaaaa{n}" for n in (1, 4, 5)]
    queued = rows["youtube:aaaaaaaaaa1"].meta
    assert (
        queued["license"].startswith("Creative Commons")
        and queued["upload_date"] == "2024-01-31"
        and queued["height"] == 720
    )
    assert queued["language"] == "en" and queued["tags"] == ["baking", "bread"] and queued["source"] == "youtube"
    assert provenance == [("query", "knead dough POV")]
    assert summary.queued == 1 and sum(summary.filtered.values()) == 4


def test_search_command_replays_a_recording_and_reruns_add_nothing(tmp_path):
    recording = tmp_path / "recording.jsonl"
    write_recording(recording)
    pool_path = tmp_path / "pool.sqlite"
    command = [
        HUMANNET,
        "collect",
        "search",
        "knead dough POV",
        "--max-per-query",
        "5",
        "--from-json",
        str(recording),
        "--pool",
        str(pool_path),
    ]
    command += ["--set", 'collect.licenses=["creative commons"]']
    first = subprocess.run(command, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "queued for download" in first.stderr
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    stats = subprocess.run(
        [HUMANNET, "pool", "stats", "--pool", str(pool_path), "--json"], capture_output=True, text=True
    )
    counts = json.loads(stats.stdout)
    assert counts["state"] == {"filtered": 4, "queued": 1}
    assert counts["reason"] == {
        "filtered: blocklist": 1,
        "filtered: duration": 1,
        "filtered: license": 1,
        "filtered: resolution": 1,
    }
    assert counts["source"] == {"youtube filtered": 4, "youtube queued": 1}
    missing = subprocess.run(
        [HUMANNET, "collect", "search", "--queries", str(tmp_path / "none.jsonl"), "--pool", str(pool_path)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "cannot read queries" in missing.stderr


def channel_page(title: str, clips: list[str]) -> bytes:
    videos = "".join(f'<video src="/v/{clip}"></video>' for clip in clips)
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{videos}</body></html>".encode()


def test_channels_are_crawled_with_yt_dlp_and_the_recording_replays_to_the_same_pool(server, tmp_path):
    clips = ["exo_mmaction2_pool_cleaning_part0.mp4", "exo_intel_asl_sign_again.mkv", "exo_sam2_coffee_pouring.mp4"]
    server.resources["/channel/cooking.html"] = Resource(
        channel_page("Cooking channel", clips), content_type="text/html"
    )
    server.resources["/channel/gameplay.html"] = Resource(
        channel_page("Minecraft gameplay", clips[2:]), content_type="text/html"
    )
    recording = tmp_path / "channels.jsonl"
    live_pool, replay_pool = tmp_path / "live.sqlite", tmp_path / "replay.sqlite"
    urls = [server.url("/channel/cooking.html"), server.url("/channel/gameplay.html"), "file:///etc/passwd"]
    base = [
        HUMANNET,
        "collect",
        "channels",
        *urls,
        "--max-per-channel",
        "2",
        "--set",
        "collect.allow_private_hosts=true",
    ]
    base += ["--set", "collect.min_duration_s=0"]
    live = subprocess.run([*base, "--pool", str(live_pool), "--record", str(recording)], capture_output=True, text=True)
    assert live.returncode == 0, live.stderr
    assert "file:///etc/passwd" in live.stderr and "only http and https" in live.stderr
    with Pool(live_pool) as pool:
        rows = pool.rows()
        states = sorted((r.url.rsplit("/", 1)[-1], r.state.value, (r.reason or "").split(":")[0]) for r in rows)
        provenance = {r.id: pool.provenance(r.id) for r in rows}
    # two entries from the cooking page (max 2); the gameplay page's title hits the blocklist
    assert states == [
        ("exo_intel_asl_sign_again.mkv", "queued", ""),
        ("exo_mmaction2_pool_cleaning_part0.mp4", "queued", ""),
        ("exo_sam2_coffee_pouring.mp4", "filtered", "blocklist"),
    ]
    assert all(kind == "channel" for values in provenance.values() for kind, _ in values)
    replay = subprocess.run(
        [*base[:-2], "collect.min_duration_s=0", "--pool", str(replay_pool), "--from-json", str(recording)],
        capture_output=True,
        text=True,
    )
    assert replay.returncode == 0, replay.stderr
    with Pool(replay_pool) as pool:
        replayed = sorted((r.id, r.state.value, r.reason) for r in pool.rows())
    with Pool(live_pool) as pool:
        assert replayed == sorted((r.id, r.state.value, r.reason) for r in pool.rows())


def test_a_live_crawl_refuses_a_channel_on_a_private_host(server, tmp_path):
    server.resources["/channel/cooking.html"] = Resource(
        channel_page("Cooking channel", ["exo_sam2_coffee_pouring.mp4"]), content_type="text/html"
    )
    url = server.url("/channel/cooking.html")
    pool_path = tmp_path / "pool.sqlite"
    crawl = subprocess.run(
        [HUMANNET, "collect", "channels", url, "--pool", str(pool_path)], capture_output=True, text=True
    )
    assert crawl.returncode == 0, crawl.stderr
    assert "host: 127.0.0.1 is a loopback address (collect.allow_private_hosts)" in " ".join(crawl.stderr.split())
    with Pool(pool_path) as pool:
        assert server.log == [] and pool.rows() == []
