"""Downloads through yt-dlp for real, against a local server that misbehaves."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from humannet.collect.canonical import canonical_id, file_stem
from humannet.collect.download import Downloader, DownloadFailure
from humannet.collect.hosts import address_kind
from humannet.collect.pool import Candidate, Pool, State
from tests.collect.http_server import Resource

CLIP = "/v/exo_mmaction2_pool_cleaning_part0.mp4"
BIG_CLIP = "/v/exo_sam2_coffee_pouring.mp4"


def queue(config, *urls: str, ids: list[str] | None = None, meta: dict | None = None) -> list[str]:
    ids = ids or [canonical_id(url) for url in urls]
    with Pool(config.pool_path) as pool:
        pool.add(
            [
                Candidate(
                    id=i,
                    url=u,
                    source="test",
                    state=State.QUEUED,
                    meta=dict(meta or {}),
                    provenance=[("manifest", "test")],
                )
                for i, u in zip(ids, urls, strict=True)
            ]
        )
    return ids


def run(config, workers: int = 2):
    return Downloader(Path(config.pool_path), Path(config.download_dir), config, workers).run()


def row(config, video_id: str):
    with Pool(config.pool_path) as pool:
        return pool.get(video_id)


def test_downloads_write_the_video_and_a_sidecar_named_by_canonical_id(server, collect_config, examples_dir):
    [video_id] = queue(collect_config, server.url(CLIP), meta={"license": "Apache-2.0"})
    summary = run(collect_config)
    done = row(collect_config, video_id)
    assert summary.done == 1 and done.state is State.DONE and done.attempts == 1
    path = Path(done.path)
    assert path.name == file_stem(video_id) + ".mp4" and path.parent == Path(collect_config.download_dir).resolve()
    assert path.read_bytes() == (examples_dir / CLIP.split("/")[-1]).read_bytes()
    sidecar = json.loads(path.with_name(path.stem + ".humannet.json").read_text())
    assert sidecar["license"] == "Apache-2.0"  # from the pool row
    assert sidecar["url"] == server.url(CLIP) and sidecar["canonical_id"] == video_id
    assert sidecar["width"] == 340 and sidecar["height"] == 256 and 1.0 < sidecar["duration_s"] < 1.2
    assert not list(Path(collect_config.partial_dir).iterdir())  # nothing half-made left behind


def test_a_connection_dropped_mid_file_is_resumed_with_a_range_request(server, collect_config, examples_dir):
    server.resources[BIG_CLIP].drop_first = 2  # yt-dlp's probe request, then the first download request
    [video_id] = queue(collect_config, server.url(BIG_CLIP))
    run(collect_config)
    done = row(collect_config, video_id)
    assert done.state is State.DONE, done.last_error
    assert Path(done.path).read_bytes() == (examples_dir / BIG_CLIP.split("/")[-1]).read_bytes()
    ranges = [r.range for r in server.requests_for(BIG_CLIP) if r.range]
    assert any(int(r.split("=")[1].split("-")[0]) > 0 for r in ranges), ranges  # continued, not restarted


def test_a_server_error_is_retried_with_backoff_until_it_succeeds(server, collect_config):
    server.resources[CLIP].fail_first = 2
    [video_id] = queue(collect_config, server.url(CLIP))
    summary = run(collect_config)
    done = row(collect_config, video_id)
    assert done.state is State.DONE and done.attempts == 3
    assert summary.retried == 2 and summary.done == 1
    assert [r.method for r in server.requests_for(CLIP)][:2] == ["GET", "GET"]


def test_bad_urls_fail_with_a_reason_and_never_stop_the_run(server, collect_config):
    server.resources["/text.mp4"] = Resource(b"this is not a video\n" * 400, content_type="text/plain")
    server.resources["/page.html"] = Resource(
        b"<html><body><p>No video on this page.</p></body></html>", content_type="text/html"
    )
    server.resources["/always-500.mp4"] = Resource(b"", fail_first=100)
    urls = [
        server.url("/text.mp4"),
        server.url("/page.html"),
        server.url("/missing.mp4"),
        server.url("/always-500.mp4"),
        "file:///etc/passwd",
        server.url(CLIP),
    ]
    ids = queue(collect_config, *urls)
    summary = run(collect_config)
    rows = [row(collect_config, i) for i in ids]
    assert [r.state for r in rows] == [State.FAILED] * 5 + [State.DONE]
    assert rows[0].reason.startswith("not a video:")
    assert "Unsupported URL" in rows[1].reason
    assert "HTTP Error 404" in rows[2].reason and rows[2].attempts == 1  # permanent: not retried
    assert "HTTP Error 500" in rows[3].reason and rows[3].attempts == collect_config.max_attempts
    assert rows[4].reason.startswith("url: scheme 'file' refused") and rows[4].attempts == 1
    assert len(summary.failures) == 5 and summary.done == 1
    assert sorted(p.name for p in Path(collect_config.download_dir).iterdir() if "humannet" in p.name) == [
        file_stem(ids[5]) + ".humannet.json"
    ]
    # the non-video was removed
    assert not any(p.name.startswith(file_stem(ids[0])) for p in Path(collect_config.download_dir).iterdir())


def test_private_loopback_and_link_local_hosts_are_refused_by_default(server, collect_config):
    strict = collect_config.model_copy(update={"allow_private_hosts": False})
    port = server.origin.rsplit(":", 1)[1]
    urls = [server.url(CLIP), f"http://localhost:{port}{CLIP}", f"http://[::1]:{port}{CLIP}"]
    ids = queue(strict, *urls)
    summary = run(strict)
    rows = [row(strict, i) for i in ids]
    assert [(r.state, r.attempts) for r in rows] == [(State.FAILED, 1)] * 3  # permanent: not retried
    assert rows[0].reason.startswith("host: 127.0.0.1 is a loopback address;"), rows[0].reason
    assert rows[1].reason.startswith("host: localhost (") and "loopback" in rows[1].reason
    assert rows[2].reason.startswith("host: ::1 is a loopback address")
    assert "collect.allow_private_hosts" in rows[0].reason and summary.failed == {"host": 3}
    assert server.log == []  # nothing was requested


def test_every_non_public_address_is_refused_and_a_public_media_url_is_not(collect_config):
    refused = {
        "10.1.2.3": "private",
        "172.16.0.1": "private",
        "192.168.1.1": "private",
        "127.0.0.2": "loopback",
        "169.254.169.254": "link-local",
        "0.0.0.0": "unspecified",
        "100.64.0.1": "non-public",
        "::1": "loopback",
        "fe80::1": "link-local",
        "fc00::1": "private",
        "::ffff:127.0.0.1": "loopback",
    }
    assert {address: address_kind(address) for address in refused} == refused
    assert address_kind("93.184.216.34") is None and address_kind("2606:2800:220:1::") is None
    strict = Downloader(Path(collect_config.pool_path), Path(collect_config.download_dir), collect_config)
    strict.config = collect_config.model_copy(update={"allow_private_hosts": False})
    strict._check_caps({"requested_formats": [{"url": "https://93.184.216.34/a.mp4", "format_id": "1"}]})
    with pytest.raises(DownloadFailure, match=r"^host: 169.254.169.254 is a link-local address") as failure:
        strict._check_caps(  # a public page whose media points at the cloud metadata service
            {"requested_formats": [{"url": "http://169.254.169.254/latest/meta-data", "format_id": "1"}]}
        )
    assert failure.value.permanent


def test_subtitles_become_narrations_and_page_metadata_reaches_the_sidecar(server, collect_config):
    page = (
        b"""<html><head><title>Pouring coffee</title></head><body>
    <video src="/v/exo_mmaction2_pool_cleaning_part0.mp4">"""
        b"""<track kind="captions" src="/s/c.vtt" srclang="en"></video></body></html>"""
    )
    server.resources["/watch/c.html"] = Resource(page, content_type="text/html")
    vtt = (
        "WEBVTT\n\n00:00:00.000 --> 00:00:00.600\nPour the <b>coffee</b>\n\n00:00:00.600 --> 00:00:01.000\nstir it "
        "&amp; wait\n"
    )
    server.resources["/s/c.vtt"] = Resource(vtt.encode(), content_type="text/vtt")
    [video_id] = queue(collect_config, server.url("/watch/c.html"))
    run(collect_config)
    done = row(collect_config, video_id)
    assert done.state is State.DONE, done.last_error
    sidecar = json.loads(Path(done.path).with_name(Path(done.path).stem + ".humannet.json").read_text())
    assert sidecar["title"].startswith("Pouring coffee")
    assert sidecar["narrations"] == [
        {"start_s": 0.0, "end_s": 0.6, "text": "Pour the coffee", "source": "subtitles"},
        {"start_s": 0.6, "end_s": 1.0, "text": "stir it & wait", "source": "subtitles"},
    ]
    assert done.meta["narrations"] == sidecar["narrations"]


def test_size_and_duration_caps(server, collect_config):
    small = collect_config.model_copy(update={"max_filesize_mb": 0.05})
    [video_id] = queue(small, server.url(CLIP))
    run(small)
    capped = row(small, video_id)
    assert capped.state is State.FAILED and capped.attempts == 1
    assert "larger" in capped.reason or "size" in capped.reason
    assert not list(Path(small.download_dir).glob(file_stem(video_id) + ".mp*"))


def test_a_killed_download_resumes_and_finished_videos_are_not_fetched_again(
    server, collect_config, tmp_path, examples_dir
):
    ids = queue(collect_config, server.url(CLIP))
    run(collect_config)  # one video finished before the crash
    finished_requests = len(server.requests_for(CLIP))
    slow = server.resources[BIG_CLIP]
    slow.bytes_per_s = 150_000  # ~8 s for the whole file: time to kill the process mid-way
    [slow_id] = queue(collect_config, server.url(BIG_CLIP))
    settings = tmp_path / "collect.toml"
    settings.write_text(
        f'[collect]\npartial_dir = "{collect_config.partial_dir}"\nbackoff_s = 0.1\nallow_private_hosts = true\n'
    )
    command = [str(Path(sys.executable).parent / "humannet"), "collect", "download", "--pool", collect_config.pool_path]
    command += ["--out", collect_config.download_dir, "--workers", "1", "--config", str(settings)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    part = Path(collect_config.partial_dir) / f"{file_stem(slow_id)}.mp4.part"
    deadline = time.time() + 60
    while time.time() < deadline and not (part.exists() and part.stat().st_size > 200_000):
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert part.exists() and 0 < part.stat().st_size < len(slow.body), "the download was not caught mid-way"
    assert row(collect_config, slow_id).state is State.DOWNLOADING  # the crash left the claim behind
    partial_size = part.stat().st_size

    slow.bytes_per_s = None
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert re.search(r"abandoned downloads resumed\s*│\s*1", rerun.stderr) and re.search(
        r"downloaded\s*│\s*1 ", rerun.stderr
    ), rerun.stderr
    done = row(collect_config, slow_id)
    assert (
        done.state is State.DONE
        and Path(done.path).read_bytes() == (examples_dir / BIG_CLIP.split("/")[-1]).read_bytes()
    )
    resumed = [r.range for r in server.requests_for(BIG_CLIP) if r.range]
    assert any(int(r.split("=")[1].split("-")[0]) >= partial_size for r in resumed), (resumed, partial_size)
    assert len(server.requests_for(CLIP)) == finished_requests  # the finished video was not requested again
    assert row(collect_config, ids[0]).state is State.DONE


def test_workers_bound_the_concurrent_downloads(server, collect_config, examples_dir):
    body = (examples_dir / "exo_intel_asl_sign_again.mkv").read_bytes()
    for n in range(5):
        server.resources[f"/v/copy{n}.mkv"] = Resource(body, content_type="video/x-matroska", bytes_per_s=1_000_000)
    ids = queue(collect_config, *[server.url(f"/v/copy{n}.mkv") for n in range(5)])
    summary = run(collect_config, workers=2)
    assert summary.done == 5 and {row(collect_config, i).state for i in ids} == {State.DONE}
    assert 1 <= server.most_in_flight <= 2  # videos served at once (a video's probe and download requests count once)
