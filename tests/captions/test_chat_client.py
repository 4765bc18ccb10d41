"""The shared chat client as the captioner uses it, against a real loopback server: it waits as long
as a busy server asks, refuses URLs that are not http(s), and a server that keeps failing leaves
the clip's template caption marked so it can be captioned again."""

from __future__ import annotations

import pytest

from humannet import HumannetError
from humannet.captions.annotators import CaptionConfig
from humannet.captions.openai_backend import CaptionRequest, OpenAICaptioner, OpenAIConfig
from humannet.captions.schema import Caption

from .chat_server import Behaviour, ChatServer
from .test_annotators import materialise, meta_of


def request(clip_id: str) -> CaptionRequest:
    return CaptionRequest(clip_id, frames=[b"\xff\xd8fake-jpeg\xff\xd9"], frame_times=[0.5], duration_s=1.0)


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_server_is_asked_again_after_its_retry_after(tmp_path, status):
    server = ChatServer(behaviours={"c": Behaviour(busy_first=1, busy_status=status, retry_after="1")}).start()
    try:
        config = OpenAIConfig(base_url=server.base_url, backoff_s=0.01, max_retries=2, cache_dir=str(tmp_path))
        caption = OpenAICaptioner(config).caption(request("c"))
    finally:
        server.stop()
    assert caption.clip_id == "c" and server.requests["c"] == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.95  # the server's second, not the 10 ms backoff


@pytest.mark.parametrize("base_url", ["file:///etc/passwd", "ftp://example.org/v1"])
def test_a_base_url_that_is_not_http_is_refused(tmp_path, base_url):
    with pytest.raises(HumannetError, match="not an http"):
        OpenAICaptioner(OpenAIConfig(base_url=base_url, cache_dir=str(tmp_path)))


def test_a_clip_captioned_by_the_template_after_the_vlm_failed_is_marked(tmp_path):
    server = ChatServer(default=Behaviour(always="500")).start()
    config = CaptionConfig(
        backend="openai",
        openai=OpenAIConfig(base_url=server.base_url, max_retries=1, backoff_s=0.01, cache_dir=str(tmp_path / "c")),
    )
    try:
        folder, video = materialise(tmp_path / "down", config)
    finally:
        server.stop()
    for clip in video.clips:
        caption = Caption.model_validate(meta_of(folder, clip.clip_id)["caption"])
        assert caption.backend == "template (vlm failed)" and "HTTP 500" in caption.fallback_reason
        assert meta_of(folder, clip.clip_id)["index"]["labels"]["caption_backend"] == "template (vlm failed)"
