"""The keyword repository: seed activities labelled on the axes of taxonomy.yaml, read from YAML.

The bundled `assets/keywords.yaml` is data, not code: add groups and keywords there (or point
`collect.keywords_path` at your own file). See the header of that file for its format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from humannet import UsageError

# axes of taxonomy.yaml
LABEL_KEYS = (
    "environment",
    "motion_category",
    "interaction_style",
    "task_structure",
    "viewpoint",
)
_VOWELS = set("aeiou")


class KeywordError(UsageError, ValueError):
    """The repository file is unusable; the message names the file and the entry."""


@dataclass(frozen=True)
class Keyword:
    text: str
    group: str
    form: str  # "verb": a base-form verb phrase ("chop onions"); "noun": used as written ("salsa dance")
    labels: dict[str, str]
    places: tuple[str, ...] = ()
    swaps: tuple[tuple[str, ...], ...] = ()  # sets of interchangeable direct objects
    verb_synonyms: tuple[
        tuple[str, tuple[str, ...]], ...
    ] = ()  # the group's own, where a verb's sense depends on the domain

    @property
    def phrase(self) -> str:
        """The form used in most queries: the -ing form of a verb phrase, a noun phrase as is."""
        return gerund(self.text) if self.form == "verb" else self.text


@dataclass
class Repository:
    keywords: list[Keyword]
    templates: dict[str, list[str]] = field(default_factory=dict)
    verb_synonyms: dict[str, list[str]] = field(default_factory=dict)


def _syllables(word: str) -> int:
    groups, previous = 0, False
    for char in word:
        vowel = char in _VOWELS or char == "y"
        groups += vowel and not previous
        previous = vowel
    return groups


def gerund(phrase: str) -> str:
    """`chop onions` -> `chopping onions`: the first word's -ing form by the English spelling rules
    (drop a silent e, ie -> ying, double a final consonant after one short vowel in one syllable)."""
    verb, _, rest = phrase.partition(" ")
    word = verb.lower()
    if word.endswith("ie"):
        form = word[:-2] + "ying"
    elif word.endswith("e") and not word.endswith(("ee", "ye", "oe")) and len(word) > 2:
        form = word[:-1] + "ing"
    elif (
        len(word) >= 3
        and word[-1] not in _VOWELS | set("wxy")
        and word[-2] in _VOWELS
        and word[-3] not in _VOWELS
        and _syllables(word) == 1
    ):
        form = word + word[-1] + "ing"
    else:
        form = word + "ing"
    return f"{form} {rest}".strip()


def _swaps(value: Any, path: Path, group: str) -> tuple[tuple[str, ...], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, list) for item in value):
        raise KeywordError(f"{path}: group {group!r}: swaps must be a list of lists of interchangeable objects")
    return tuple(tuple(str(o) for o in item) for item in value if len(item) > 1)


def default_path() -> Path:
    return Path(str(resources.files("humannet") / "assets" / "keywords.yaml"))


def load_repository(path: Path | None = None) -> Repository:
    """Read and check a keyword repository; every problem names the group and keyword."""
    path = path or default_path()
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise KeywordError(f"{path}: cannot read the keyword repository: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("groups"), dict):
        raise KeywordError(f"{path}: expected a mapping with a 'groups' section")
    keywords: list[Keyword] = []
    for group, spec in data["groups"].items():
        if not isinstance(spec, dict) or not isinstance(spec.get("keywords"), list):
            raise KeywordError(f"{path}: group {group!r} needs a 'keywords' list")
        defaults = {key: str(spec[key]) for key in LABEL_KEYS if spec.get(key)}
        form = str(spec.get("form", "verb"))
        if form not in ("verb", "noun"):
            raise KeywordError(f"{path}: group {group!r}: form must be 'verb' or 'noun', not {form!r}")
        for entry in spec["keywords"]:
            overrides: dict[str, Any] = {}
            if isinstance(entry, dict):
                if not entry.get("text"):
                    raise KeywordError(f"{path}: group {group!r}: a keyword mapping needs 'text' ({entry})")
                unknown = set(entry) - set(LABEL_KEYS) - {"text", "form"}
                if unknown:
                    raise KeywordError(
                        f"{path}: group {group!r}, keyword {entry['text']!r}: unknown keys {sorted(unknown)}"
                    )
                overrides = {k: str(v) for k, v in entry.items() if k != "text"}
                text = str(entry["text"])
            elif isinstance(entry, str) and entry.strip():
                text = entry
            else:
                raise KeywordError(f"{path}: group {group!r}: keyword {entry!r} is not text")
            labels = {**defaults, **{k: v for k, v in overrides.items() if k in LABEL_KEYS}}
            labels = {key: value for key, value in labels.items() if value != "any"} | {"domain": str(group)}
            keywords.append(
                Keyword(
                    text=" ".join(text.split()),
                    group=str(group),
                    form=overrides.get("form", form),
                    labels=labels,
                    places=tuple(str(p) for p in spec.get("places") or []),
                    swaps=_swaps(spec.get("swaps"), path, str(group)),
                    verb_synonyms=tuple(
                        (str(k), tuple(str(s) for s in v)) for k, v in (spec.get("verb_synonyms") or {}).items()
                    ),
                )
            )
    templates = {str(k): [str(t) for t in v] for k, v in (data.get("templates") or {}).items()}
    synonyms = {str(k): [str(s) for s in v] for k, v in (data.get("verb_synonyms") or {}).items()}
    return Repository(keywords=keywords, templates=templates, verb_synonyms=synonyms)
