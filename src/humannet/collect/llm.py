"""A small client for OpenAI-compatible chat-completions endpoints (vLLM, Ollama, llama.cpp
server, hosted APIs): one POST with a timeout, a few retries with backoff, JSON answers only."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from humannet import HumannetError


class LLMError(HumannetError, RuntimeError):
    """The endpoint could not give a usable answer; the message says why."""


class ChatClient:
    def __init__(
        self, base_url: str, model: str, timeout_s: float = 30.0, api_key_env: str = "OPENAI_API_KEY", retries: int = 2
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        if not self.url.startswith(("http://", "https://")):
            raise LLMError(f"LLM endpoint {base_url!r} is not an http(s) URL")
        self.model = model
        self.timeout_s = timeout_s
        self.api_key = os.environ.get(api_key_env) or None
        self.retries = retries

    def complete(self, system: str, user: str) -> str:
        """The assistant's text for one system + user prompt."""
        body = json.dumps(
            {
                "model": self.model,
                "temperature": 0.2,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2**attempt, 8.0))
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    payload: dict[str, Any] = json.loads(response.read(4_000_000))
                return str(payload["choices"][0]["message"]["content"])
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
                last = f"malformed response: {exc}"
        raise LLMError(f"{self.url}: {last}")


def json_list(text: str) -> list[str]:
    """The first JSON list of strings in a model answer (models wrap JSON in prose or code fences)."""
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end <= start:
        raise LLMError(f"no JSON list in the answer: {text[:120]!r}")
    try:
        items = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise LLMError(f"answer is not valid JSON: {exc}") from exc
    return [" ".join(str(item).split()) for item in items if isinstance(item, str | int | float) and str(item).strip()]
