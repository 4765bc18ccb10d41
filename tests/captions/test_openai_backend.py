"""The OpenAI-compatible captioner against a real loopback server that answers out of order,
slowly, with 500s, malformed JSON, garbage and captions for the wrong clip."""

from __future__ import annotations

import pytest

from humannet.captions.chat import ChatError
from humannet.captions.openai_backend import (
    CaptionRequest,
    OpenAICaptioner,
    OpenAIConfig,
    parse_answer,
)

from .chat_server import Behaviour, ChatServer, caption_for


@pytest.fixture
def server():
    running = ChatServer().start()
    yield running
    running.stop()


def request(clip_id: str) -> CaptionRequest:
    return CaptionRequest(
        clip_id,
        frames=[b"\xff\xd8fake-jpeg\xff\xd9"] * 2,
        frame_times=[0.5, 1.5],
        signals={"viewpoint": "exo"},
        narrations=[],
        duration_s=2.0,
    )


def captioner(server: ChatServer, tmp_path, **settings) -> OpenAICaptioner:
    values = {
        "base_url": server.base_url,
        "model": "test-vlm",
        "backoff_s": 0.01,
        "cache_dir": str(tmp_path / "cache"),
        "timeout_s": 5,
        **settings,
    }
    config = OpenAIConfig(**values)
    return OpenAICaptioner(config)


def test_out_of_order_and_faulty_answers_each_land_on_their_own_clip(server, tmp_path):
    clips = [f"clip{i}" for i in range(5)]
    server.behaviours = {
        "clip0": Behaviour(delay_s=0.6),  # sent first, answered last
        "clip1": Behaviour(fail_first=2),
        "clip2": Behaviour(malformed_first=1),
        "clip3": Behaviour(wrong_clip_first=2),
        "clip4": Behaviour(delay_s=0.05),
    }
    vlm = captioner(server, tmp_path, concurrency=5, max_retries=3)
    futures = {clip: vlm.submit(lambda clip=clip: request(clip), clip) for clip in clips}
    results = {clip: future.result(timeout=30) for clip, future in futures.items()}
    vlm.close()
    assert all(results[clip].clip_id == clip and clip in results[clip].short for clip in clips)
    assert server.finished.index("clip0") > server.finished.index("clip4")  # really answered out of order
    assert server.requests == {"clip0": 1, "clip1": 3, "clip2": 2, "clip3": 3, "clip4": 1}
    assert server.images["clip0"] == 2
    body = server.bodies[0]
    assert body["response_format"]["type"] == "json_schema" and body["model"] == "test-vlm"
    assert body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_cache_makes_a_rerun_free(server, tmp_path):
    first = captioner(server, tmp_path)
    assert first.submit(lambda: request("a"), "a").result().clip_id == "a"
    first.close()
    again = captioner(server, tmp_path)
    assert again.submit(lambda: request("a"), "a").result().short == caption_for("a")["short"]
    again.close()
    assert server.requests["a"] == 1
    other_model = captioner(server, tmp_path, model="another-vlm")
    other_model.submit(lambda: request("a"), "a").result()
    other_model.close()
    assert server.requests["a"] == 2  # the cache is keyed by model


@pytest.mark.parametrize("kind", ["500", "malformed", "wrong_clip", "garbage_body"])
def test_a_server_that_never_answers_well_gives_a_clear_error(server, tmp_path, kind):
    server.behaviours = {"bad": Behaviour(always=kind)}
    vlm = captioner(server, tmp_path, max_retries=2)
    with pytest.raises(ChatError) as error:
        vlm.submit(lambda: request("bad"), "bad").result()
    vlm.close()
    assert server.requests["bad"] == 3 and "3 attempt(s) failed" in str(error.value)
    assert not (vlm.cache_dir / "bad.json").exists()
    if kind == "wrong_clip":
        assert "the request was for 'bad'" in str(error.value)


def test_an_endpoint_that_is_down_or_slow_fails_after_its_retries(tmp_path):
    down = OpenAICaptioner(
        OpenAIConfig(base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01, cache_dir=str(tmp_path))
    )
    with pytest.raises(ChatError, match="no answer from"):
        down.caption(request("x"))
    slow_server = ChatServer(behaviours={"slow": Behaviour(delay_s=1.5)}).start()
    try:
        slow = OpenAICaptioner(
            OpenAIConfig(
                base_url=slow_server.base_url, timeout_s=0.3, max_retries=1, backoff_s=0.01, cache_dir=str(tmp_path)
            )
        )
        with pytest.raises(ChatError, match="timed out"):
            slow.caption(request("slow"))
    finally:
        slow_server.stop()


def test_parse_answer_accepts_fenced_json_and_rejects_schema_mismatches():
    good = parse_answer("```json\n" + __import__("json").dumps(caption_for("c")) + "\n```", "c")
    assert good.subjects.count == 1
    with pytest.raises(ValueError, match="caption schema"):
        parse_answer('{"clip_id": "c", "short": "x"}', "c")
    with pytest.raises(ValueError, match="not JSON"):
        parse_answer("sure! here is the caption", "c")
