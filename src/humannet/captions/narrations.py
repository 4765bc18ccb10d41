"""Source narrations: read from `Video.meta`, checked, aligned to a clip by time, and normalised
into canonical verb and noun classes (`assets/activity_vocabulary.yaml`).

Narrations come in many styles: EPIC-KITCHENS (`cut cucumber`), Ego4D (`#C C cuts the cucumber`),
Action100M (`gpt.action.brief`: `Speak about the dog park`), subtitles (`so now I'm slicing the
onion`). One parser handles them all with stated rules:

1. Clean: drop Ego4D markers (`#C`, `#O`, `#unsure`, `#summary`), lower-case, keep words.
2. Skip leading actor words and auxiliaries (`c`, `i`, `he`, `the person`, `is`, `now`, `gonna` ...).
3. The first remaining word is the verb; a following particle makes a phrasal verb when the
   vocabulary has it (`pick up`, `turn on`).
4. The object is the first noun phrase after the verb: determiners and quantity words (`a piece
   of`) are skipped, it ends at a preposition; its head is its last word (or last two words when
   the vocabulary knows the pair, `frying pan`).
5. Verb and noun are lemmatised by suffix rules with a small irregular table, then matched to a
   class: the canonical name, a listed synonym, or the canonical name nearest by MiniLM
   embedding when the cosine similarity reaches the threshold; otherwise the lemma is kept.

Subtitles are speech, not descriptions of actions: a subtitle line only yields an action when
its verb is in the vocabulary by name or listed synonym (rule 5 without embeddings).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import yaml

from humannet.captions.embeddings import TextEmbedder

SPEECH_SOURCES = frozenset({"subtitles", "asr", "transcript", "captions"})
MAX_CHARS = 400
MAX_WORDS = 60
LEADING = frozenset(
    [
        "c",
        "o",
        "x",
        "y",
        "i",
        "we",
        "he",
        "she",
        "they",
        "you",
        "it",
        "person",
        "man",
        "woman",
        "boy",
        "girl",
        "someone",
        "somebody",
        "camera",
        "wearer",
        "user",
        "actor",
        "the",
        "a",
        "an",
        "then",
        "now",
        "so",
        "and",
        "just",
        "is",
        "are",
        "was",
        "were",
        "am",
        "be",
        "will",
        "would",
        "can",
        "let",
        "lets",
        "let's",
        "gonna",
        "going",
        "to",
        "also",
        "again",
        "first",
        "next",
        "finally",
        "slowly",
        "quickly",
    ]
)
DETERMINERS = frozenset(
    [
        "the",
        "a",
        "an",
        "some",
        "his",
        "her",
        "their",
        "its",
        "my",
        "your",
        "our",
        "this",
        "that",
        "these",
        "those",
        "another",
        "other",
        "one",
        "two",
        "few",
        "more",
        "of",
    ]
)
QUANTITIES = frozenset(
    [
        "piece",
        "pieces",
        "slice",
        "slices",
        "bit",
        "bits",
        "handful",
        "lot",
        "lots",
        "pair",
        "bunch",
        "cup_of",
        "part",
        "parts",
        "half",
        "amount",
    ]
)
PREPOSITIONS = frozenset(
    [
        "on",
        "in",
        "into",
        "onto",
        "from",
        "with",
        "to",
        "at",
        "by",
        "under",
        "over",
        "above",
        "below",
        "for",
        "towards",
        "toward",
        "through",
        "inside",
        "outside",
        "off",
        "out",
        "up",
        "down",
        "and",
        "while",
        "using",
    ]
)
PARTICLES = frozenset(["up", "down", "out", "off", "on", "in", "over", "away", "back"])
ENGLISH_FUNCTION = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "with",
        "from",
        "into",
        "onto",
        "up",
        "down",
        "out",
        "is",
        "are",
        "was",
        "be",
        "it",
        "this",
        "that",
        "he",
        "she",
        "they",
        "i",
        "you",
        "we",
        "his",
        "her",
        "their",
        "my",
        "your",
        "for",
        "by",
        "then",
        "now",
        "so",
        "not",
        "no",
        "yes",
    ]
)
IRREGULAR_VERBS = {
    "took": "take",
    "taken": "take",
    "taking": "take",
    "put": "put",
    "putting": "put",
    "cutting": "cut",
    "ran": "run",
    "running": "run",
    "sat": "sit",
    "sitting": "sit",
    "stood": "stand",
    "threw": "throw",
    "thrown": "throw",
    "held": "hold",
    "caught": "catch",
    "ate": "eat",
    "eaten": "eat",
    "drank": "drink",
    "drunk": "drink",
    "got": "get",
    "getting": "get",
    "made": "make",
    "making": "make",
    "went": "go",
    "goes": "go",
    "going": "go",
    "did": "do",
    "does": "do",
    "done": "do",
    "has": "have",
    "had": "have",
    "wrote": "write",
    "written": "write",
    "writing": "write",
    "brought": "bring",
    "kept": "keep",
    "left": "leave",
    "laid": "lay",
    "swept": "sweep",
    "spun": "spin",
    "stuck": "stick",
    "tore": "tear",
    "torn": "tear",
    "wrung": "wring",
    "rose": "rise",
    "fed": "feed",
    "dug": "dig",
    "shook": "shake",
    "shaken": "shake",
    "began": "begin",
    "spoke": "speak",
    "said": "say",
    "told": "tell",
    "sang": "sing",
    "stirring": "stir",
    "chopping": "chop",
    "chopped": "chop",
    "dropping": "drop",
    "dropped": "drop",
    "stopped": "stop",
    "stopping": "stop",
    "grabbing": "grab",
    "grabbed": "grab",
    "jogging": "jog",
    "hopping": "hop",
    "hopped": "hop",
    "wrapped": "wrap",
    "wrapping": "wrap",
    "mopping": "mop",
    "tapping": "tap",
    "tapped": "tap",
    "slid": "slide",
    "sliding": "slide",
    "lying": "lie",
}
IRREGULAR_NOUNS = {
    "knives": "knife",
    "leaves": "leaf",
    "loaves": "loaf",
    "children": "child",
    "people": "person",
    "women": "woman",
    "men": "man",
    "feet": "foot",
    "teeth": "tooth",
    "potatoes": "potato",
    "tomatoes": "tomato",
    "glasses": "glass",
    "dishes": "dish",
    "boxes": "box",
    "scissors": "scissors",
    "clothes": "clothes",
    "pliers": "pliers",
    "shelves": "shelf",
    "halves": "half",
    "wolves": "wolf",
}


class NarrationProblem(ValueError):
    """A narration that cannot be used; the message says why (recorded per clip)."""


@dataclass(frozen=True, slots=True)
class Narration:
    start_s: float | None
    end_s: float | None
    text: str
    source: str

    @property
    def timed(self) -> bool:
        return self.start_s is not None


@dataclass(frozen=True, slots=True)
class NormalisedAction:
    verb: str
    noun: str | None
    noun_class: str | None
    verb_match: str  # name | synonym | embedding | lemma
    noun_match: str | None
    text: str
    source: str
    start_s: float | None  # source-video seconds
    end_s: float | None

    @property
    def activity_class(self) -> str:
        return f"{self.verb}:{self.noun}" if self.noun else self.verb


def read_narrations(meta: dict[str, Any]) -> tuple[list[Narration], list[str]]:
    """The narrations in a video's metadata; malformed entries are reported, not raised."""
    raw = meta.get("narrations") or []
    problems: list[str] = []
    if not isinstance(raw, list):
        return [], [f"narrations: expected a list, got {type(raw).__name__}"]
    found = []
    for number, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            problems.append(f"narration {number}: not an object with a text string")
            continue
        start, end = _seconds(item.get("start_s")), _seconds(item.get("end_s"))
        if start is not None and end is not None and end < start:
            problems.append(f"narration {number} {item['text'][:40]!r}: ends before it starts ({start:g} > {end:g} s)")
            continue
        found.append(
            Narration(start, end if end is not None else start, item["text"], str(item.get("source") or "dataset"))
        )
    return found, problems


def _seconds(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def aligned(narrations: list[Narration], start_s: float, end_s: float) -> list[tuple[Narration, float]]:
    """Timed narrations that belong to [start_s, end_s): at least half of the shorter of the two
    spans overlaps (a point narration counts when it falls inside). Returns (narration, overlap s)."""
    found = []
    for item in narrations:
        if not item.timed:
            continue
        n_start, n_end = item.start_s or 0.0, item.end_s if item.end_s is not None else item.start_s or 0.0
        if n_end <= n_start:
            if start_s <= n_start < end_s:
                found.append((item, 0.0))
            continue
        overlap = min(end_s, n_end) - max(start_s, n_start)
        if overlap > 0 and overlap >= 0.5 * min(end_s - start_s, n_end - n_start):
            found.append((item, overlap))
    return found


def clean_words(text: str) -> list[str]:
    text = re.sub(r"#\s*(unsure|summary)\b", " ", text, flags=re.IGNORECASE)
    text = re.sub(r"#\s*[a-z]\b", " ", text, flags=re.IGNORECASE)  # Ego4D actor markers #C, #O
    words = re.findall(r"[a-z]+(?:'[a-z]+)?(?:-[a-z]+)*", text.lower())
    return [word.replace("-", "_") for word in words]


def check_narration(text: str) -> None:
    """Raise NarrationProblem for text no parser should trust: empty, absurdly long, not English."""
    stripped = text.strip()
    if not stripped or stripped.upper() in ("N/A", "NA", "NONE", "NULL"):
        raise NarrationProblem("empty narration")
    if len(stripped) > MAX_CHARS:
        raise NarrationProblem(f"too long for a narration ({len(stripped)} characters > {MAX_CHARS})")
    letters = [ch for ch in stripped if ch.isalpha()]
    if not letters:
        raise NarrationProblem(f"no words in {stripped[:40]!r}")
    if not_latin(stripped):
        raise NarrationProblem(f"not English (mostly non-Latin letters): {stripped[:40]!r}")
    words = clean_words(stripped)
    if len(words) > MAX_WORDS:
        raise NarrationProblem(f"too long for a narration ({len(words)} words > {MAX_WORDS})")
    vocabulary = _vocabulary()
    if len(words) >= 3 and not any(
        w in ENGLISH_FUNCTION or w in vocabulary.verb_forms or w in vocabulary.noun_forms for w in words
    ):
        raise NarrationProblem(f"no English word recognised in {stripped[:40]!r}")


def not_latin(text: str) -> bool:
    """Mostly non-Latin letters: the English models here (MiniLM, the vocabulary) cannot read it."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(not ch.isascii() for ch in letters) > 0.3 * len(letters)


def lemmatise_verb(word: str, known: frozenset[str] = frozenset()) -> str:
    if word in IRREGULAR_VERBS:
        return IRREGULAR_VERBS[word]
    candidates: list[str] = []
    if word.endswith("ies") and len(word) > 4:
        candidates.append(word[:-3] + "y")
    elif word.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        candidates.append(word[:-2])
    elif word.endswith("ing") and len(word) > 4:
        stem = word[:-3]
        candidates += [stem, stem + "e"] + ([stem[:-1]] if len(stem) > 2 and stem[-1] == stem[-2] else [])
    elif word.endswith("ied") and len(word) > 4:
        candidates.append(word[:-3] + "y")
    elif word.endswith("ed") and len(word) > 3:
        stem = word[:-2]
        candidates += [stem, word[:-1]] + ([stem[:-1]] if len(stem) > 2 and stem[-1] == stem[-2] else [])
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 2:
        candidates.append(word[:-1])
    for candidate in candidates:
        if candidate in known:
            return candidate
    if not candidates:
        return word
    first = candidates[0]
    if word.endswith("ing") or word.endswith("ed"):
        stem = word[:-3] if word.endswith("ing") else word[:-2]
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsfz":
            return stem[:-1]  # cutting -> cut, stopped -> stop
        if (
            len(stem) > 2
            and stem[-1] not in "aeiouy"
            and stem[-2] in "aeiou"
            and stem[-3] not in "aeiou"
            and stem[-1] not in "wxr"
        ):
            return stem + "e"  # slicing -> slice, placed -> place
    return first


def lemmatise_noun(word: str) -> str:
    if word in IRREGULAR_NOUNS:
        return IRREGULAR_NOUNS[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


@dataclass(frozen=True)
class Vocabulary:
    version: int
    verb_of: dict[str, str]  # canonical name or synonym (underscored) -> canonical verb
    noun_of: dict[str, str]
    noun_class: dict[str, str]
    verbs: tuple[str, ...]
    nouns: tuple[str, ...]

    @functools.cached_property
    def verb_forms(self) -> frozenset[str]:
        return frozenset(word for form in self.verb_of for word in form.split("_"))

    @functools.cached_property
    def noun_forms(self) -> frozenset[str]:
        return frozenset(word for form in self.noun_of for word in form.split("_"))


@functools.cache
def _vocabulary() -> Vocabulary:
    data = yaml.safe_load(resources.files("humannet").joinpath("assets/activity_vocabulary.yaml").read_text())
    verb_of: dict[str, str] = {}
    for verb, synonyms in data["verbs"].items():
        verb_of[verb] = verb
        for synonym in synonyms or []:
            verb_of.setdefault(synonym, verb)
    noun_of: dict[str, str] = {}
    noun_class: dict[str, str] = {}
    for noun, body in data["nouns"].items():
        noun_of[noun] = noun
        noun_class[noun] = body["class"]
        for synonym in body.get("synonyms") or []:
            noun_of.setdefault(synonym, noun)
    return Vocabulary(int(data["version"]), verb_of, noun_of, noun_class, tuple(data["verbs"]), tuple(data["nouns"]))


def vocabulary() -> Vocabulary:
    return _vocabulary()


@dataclass(frozen=True, slots=True)
class ParsedPhrase:
    verb: str  # lemma, phrasal verbs joined with "_"
    noun: str | None  # lemma, known pairs joined with "_"


def parse_phrase(text: str) -> ParsedPhrase | None:
    """Verb and object head of one narration line (rules 1-4 of the module docstring)."""
    vocab = _vocabulary()
    words = clean_words(text)
    position = 0
    while position < len(words) and words[position] in LEADING:
        position += 1
    if position >= len(words):
        return None
    verb = lemmatise_verb(words[position], vocab.verb_forms)
    position += 1
    if position < len(words) and words[position] in PARTICLES and f"{verb}_{words[position]}" in vocab.verb_of:
        verb = f"{verb}_{words[position]}"
        position += 1
    phrase: list[str] = []
    for word in words[position:]:
        if word in PREPOSITIONS or word in PARTICLES:
            if phrase:
                break
            continue
        if word in DETERMINERS or word in QUANTITIES:
            if word in QUANTITIES:
                phrase = []
            continue
        phrase.append(word)
    if not phrase:
        return ParsedPhrase(verb, None)
    if len(phrase) >= 2:
        pair = f"{phrase[-2]}_{lemmatise_noun(phrase[-1])}"
        if pair in vocab.noun_of:
            return ParsedPhrase(verb, pair)
    return ParsedPhrase(verb, lemmatise_noun(phrase[-1]))


class ActivityNormaliser:
    """Maps narration lines to canonical verb and noun classes (rule 5 of the module docstring)."""

    def __init__(self, embedder: TextEmbedder | None, similarity: float = 0.65) -> None:
        self.embedder = embedder
        self.similarity = similarity
        self.vocab = _vocabulary()

    def _match(
        self, lemma: str, table: dict[str, str], classes: tuple[str, ...], use_embeddings: bool
    ) -> tuple[str, str]:
        if lemma in classes:
            return lemma, "name"
        if lemma in table:
            return table[lemma], "synonym"
        if use_embeddings and self.embedder is not None:
            names = [c.replace("_", " ") for c in classes]
            vectors = self.embedder.encode([lemma.replace("_", " "), *names])
            similarities = vectors[1:] @ vectors[0]
            best = int(np.argmax(similarities))
            if float(similarities[best]) >= self.similarity:
                return classes[best], "embedding"
        return lemma, "lemma"

    def normalise(self, narration: Narration) -> NormalisedAction:
        """Raise NarrationProblem when the line is unusable or (for speech) names no known verb."""
        check_narration(narration.text)
        parsed = parse_phrase(narration.text)
        if parsed is None:
            raise NarrationProblem(f"no verb found in {narration.text[:40]!r}")
        speech = narration.source.lower() in SPEECH_SOURCES
        verb, verb_match = self._match(parsed.verb, self.vocab.verb_of, self.vocab.verbs, use_embeddings=not speech)
        if speech and verb_match == "lemma":
            raise NarrationProblem(f"speech without a known action verb: {narration.text[:40]!r}")
        noun = noun_class = noun_match = None
        if parsed.noun is not None:
            noun, noun_match = self._match(parsed.noun, self.vocab.noun_of, self.vocab.nouns, use_embeddings=not speech)
            noun_class = self.vocab.noun_class.get(noun)
        return NormalisedAction(
            verb,
            noun,
            noun_class,
            verb_match,
            noun_match,
            narration.text.strip(),
            narration.source,
            narration.start_s,
            narration.end_s,
        )
