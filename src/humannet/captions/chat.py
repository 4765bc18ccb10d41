"""The one client for OpenAI-compatible chat-completions endpoints (vLLM, SGLang, Ollama, llama.cpp
server, hosted APIs), shared by keyword expansion (`collect/`) and VLM captions, so both refuse
non-http(s) URLs, send the key from the same kind of setting and retry the same way.

It lives under `captions/` because `collect/` may import `captions/` (captions imports nothing from
collect). The stdlib is enough for one JSON POST: no SDK, no retry library to pin.

Retried: connection errors, timeouts, HTTP 408/429/5xx, bodies that are not a chat answer, and
answers the caller's `accept` rejects (ValueError). A 429 or 503 with `Retry-After` waits what the
server asks (capped at `MAX_WAIT_S`); otherwise the wait doubles from `backoff_s`, jittered, capped too.
Other 4xx are final: asking again will not change them.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from humannet import HumannetError

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_WAIT_S = 60.0
MAX_ANSWER_BYTES = 16_000_000


class ChatError(HumannetError, RuntimeError):
    """The endpoint gave no usable answer (or its URL is not http(s)); the message says why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the last HTTP status, when the last attempt got one


def retry_after_s(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class ChatClient:
    """One endpoint, its key variable and its retry rules; thread-safe (it keeps no state between requests), so the
    captioner's pool shares one."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 120.0,
        api_key_env: str = "OPENAI_API_KEY",
        max_retries: int = 4,
        backoff_s: float = 1.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ChatError(f"chat endpoint {base_url!r} is not an http(s) URL")
        self.base_url = base_url
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.timeout_s = timeout_s
        self.api_key_env = api_key_env
        self.max_retries = max_retries
        self.backoff_s = backoff_s

    def _wait(self, attempt: int, asked_s: float | None) -> float:
        if asked_s is not None:
            return min(MAX_WAIT_S, asked_s)
        return min(MAX_WAIT_S, self.backoff_s * 2 ** (attempt - 1)) * (0.75 + 0.5 * random.random())

    def _post(self, body: dict[str, Any]) -> str:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            payload = json.loads(response.read(MAX_ANSWER_BYTES))
        content = payload["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise ValueError("answer has no text content")
        return content

    def ask(self, body: dict[str, Any], accept: Callable[[str], T]) -> T:
        """`accept(text)` of the first answer it does not reject, asking again on failures worth retrying."""
        problems: list[str] = []
        status: int | None = None
        asked_s: float | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._wait(attempt, asked_s))
            asked_s = status = None
            try:
                return accept(self._post(body))
            except urllib.error.HTTPError as exc:
                status = exc.code
                detail = exc.read()[:200].decode(errors="replace").strip()
                problems.append(f"HTTP {exc.code}: {detail or exc.reason}")
                if exc.code in (429, 503):
                    asked_s = retry_after_s(exc.headers.get("Retry-After"))
                if exc.code < 500 and exc.code not in (408, 429):
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problems.append(f"no answer from {self.base_url}: {getattr(exc, 'reason', exc)}")
            except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
                problems.append(f"not a chat-completions answer: {type(exc).__name__}: {exc}")
            except ValueError as exc:
                problems.append(str(exc))
            log.debug("%s attempt %d: %s", self.url, attempt + 1, problems[-1])
        raise ChatError(f"{self.url}: {len(problems)} attempt(s) failed; last: {problems[-1]}", status)
