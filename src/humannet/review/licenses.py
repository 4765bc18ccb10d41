"""Licence normalisation: free-form licence text -> an SPDX-style ID with machine-readable terms.

Licences arrive as whatever a source wrote: "CC BY 4.0", YouTube's "Creative Commons
Attribution license (reuse allowed)", "cc-by-sa", a creativecommons.org URL, "Standard YouTube
License", "MIT", nothing at all, or (from a broken sidecar) a number or a dict. The table of
licences, their terms and the spellings that map to them is data (`assets/licenses.yaml`), so
a governance reviewer can read and extend it without reading code. What the table does not
recognise is `unknown`, with the reason in `issue`; nothing is guessed.

`LicenseStage` applies it to each video in the analysis chain: `video.meta["license_spdx"]`
and the clip label `license_spdx`, plus `license_issue` when the text was missing, malformed,
unrecognised or needed an assumption.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

import yaml

from humannet.engine.stage import Stage
from humannet.records import Video

UNKNOWN = "unknown"
TERMS = ("commercial_use", "derivatives", "share_alike", "attribution", "redistribution")


@dataclass(frozen=True)
class LicenseTerms:
    commercial_use: bool
    derivatives: bool
    share_alike: bool
    attribution: bool
    redistribution: bool

    def to_dict(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in TERMS}


@dataclass(frozen=True)
class LicenseInfo:
    id: str
    name: str
    url: str | None
    terms: LicenseTerms


@dataclass(frozen=True)
class Normalized:
    """The result for one licence text: the licence, and what was wrong with the input, if anything."""

    license: LicenseInfo
    issue: str | None = None

    @property
    def id(self) -> str:
        return self.license.id


class LicenseTable:
    """The parsed `licenses.yaml`: known licences by ID, aliases, and the Creative Commons grammar."""

    def __init__(self, data: dict[str, Any], source_text: str) -> None:
        self.version = str(data["version"])
        self.digest = hashlib.sha256(source_text.encode()).hexdigest()[:12]  # changes whenever the file does
        self.licenses: dict[str, LicenseInfo] = {}
        for license_id, entry in data["licenses"].items():
            self.licenses[license_id] = LicenseInfo(
                license_id, entry["name"], entry.get("url"), LicenseTerms(**entry["terms"])
            )
        cc = data["creative_commons"]
        self.cc_versions: list[str] = list(cc["versions"])
        self.cc_default_version: str = cc["default_version"]
        self.cc_url: str = cc["url"]
        self.cc_base: dict[str, bool] = dict(cc["base_terms"])
        self.cc_elements: dict[str, dict[str, bool]] = {k: dict(v) for k, v in cc["elements"].items()}
        for version in self.cc_versions:  # every CC licence is a table entry too, so IDs look up the same way
            for elements in ("", "-SA", "-ND", "-NC", "-NC-SA", "-NC-ND"):
                self._add_cc(f"BY{elements}".split("-"), version)
        self.aliases = [(re.compile(a["pattern"]), a["id"]) for a in data["aliases"]]
        unknown_aliases = {target for _, target in self.aliases} - set(self.licenses)
        if unknown_aliases:
            raise ValueError(f"licenses.yaml: aliases point at unknown IDs: {sorted(unknown_aliases)}")
        self.by_lower = {license_id.lower(): license_id for license_id in self.licenses}

    def _add_cc(self, elements: list[str], version: str) -> str:
        license_id = "-".join(["CC", *elements, version])
        terms = dict(self.cc_base)
        for element in elements[1:]:
            terms.update(self.cc_elements[element])
        words = {
            "BY": "Attribution",
            "NC": "NonCommercial",
            "SA": "ShareAlike",
            "ND": "NoDerivatives" if version == "4.0" else "NoDerivs",
        }
        name = f"Creative Commons {'-'.join(words[e] for e in elements)} {version}"
        url = self.cc_url.format(elements="-".join(elements).lower(), version=version)
        self.licenses[license_id] = LicenseInfo(license_id, name, url, LicenseTerms(**terms))
        return license_id

    def get(self, license_id: str | None) -> LicenseInfo:
        """The licence with this ID (`unknown` for None or an ID not in the table)."""
        return self.licenses.get(license_id or UNKNOWN) or self.licenses[UNKNOWN]

    def normalize(self, value: Any) -> Normalized:
        """The licence a free-form value names. Never raises: bad values give `unknown` with an issue."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return Normalized(self.get(UNKNOWN), "missing: no licence given")
        if isinstance(value, dict):  # a structured sidecar field: {"id": ...}, {"spdx": ...}, {"name": ..., "url": ...}
            for key in ("spdx", "id", "license", "name", "url"):
                if isinstance(value.get(key), str) and value[key].strip():
                    return self.normalize(value[key])
            return Normalized(self.get(UNKNOWN), f"malformed: a mapping without a licence name ({_short(value)})")
        if isinstance(value, list | tuple):
            texts = [v for v in value if isinstance(v, str) and v.strip()]
            if len(texts) == 1:
                return self.normalize(texts[0])
            found = {self.normalize(text).id for text in texts} - {UNKNOWN}
            if len(found) == 1:
                return Normalized(self.get(found.pop()))
            return Normalized(
                self.get(UNKNOWN), f"malformed: {len(value)} licence values that do not agree ({_short(value)})"
            )
        if not isinstance(value, str):
            return Normalized(self.get(UNKNOWN), f"malformed: a {type(value).__name__}, not text ({_short(value)})")
        return self._normalize_text(value)

    def _normalize_text(self, text: str) -> Normalized:
        folded = unicodedata.normalize("NFKC", text).strip()
        exact = self.by_lower.get(folded.lower())
        if exact:
            return Normalized(self.licenses[exact])
        plain = re.sub(r"[-_/]+", " ", folded.lower())
        plain = re.sub(r"\s+", " ", plain)
        for pattern, license_id in self.aliases:
            if pattern.search(plain):
                return Normalized(self.licenses[license_id])
        if re.search(r"\bcc\b|creative ?commons|creativecommons", plain):
            return self._creative_commons(plain, text)
        return Normalized(self.get(UNKNOWN), f"unrecognised: {_short(text)}")

    def _creative_commons(self, plain: str, original: str) -> Normalized:
        url = re.search(r"creativecommons\.org licenses ((?:by|nc|sa|nd| )+?) (\d\.\d)", plain)
        words = url.group(1) if url else plain
        elements = ["BY"]
        if re.search(r"\bnc\b|non ?commercial", words):
            elements.append("NC")
        no_derivatives = bool(re.search(r"\bnd\b|no ?deriv", words))
        share_alike = bool(re.search(r"\bsa\b|share ?alike", words))
        if no_derivatives and share_alike:
            return Normalized(
                self.get(UNKNOWN),
                f"malformed: Creative Commons licence with both ShareAlike and NoDerivatives ({_short(original)})",
            )
        if no_derivatives:
            elements.append("ND")
        elif share_alike:
            elements.append("SA")
        found = url.group(2) if url else _cc_version(plain)
        issue = None
        if found is None:
            found = self.cc_default_version
            issue = f"assumed: no Creative Commons version given, {found} assumed ({_short(original)})"
        elif found not in self.cc_versions:
            return Normalized(self.get(UNKNOWN), f"unrecognised: Creative Commons version {found} ({_short(original)})")
        return Normalized(self.licenses["-".join(["CC", *elements, found])], issue)


def _cc_version(plain: str) -> str | None:
    match = re.search(r"\b(\d+\.\d+)\b", plain) or re.search(r"\b(\d)\b(?!\.\d)", plain)
    if not match:
        return None
    version = match.group(1)
    return version if "." in version else f"{version}.0"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, str) else repr(value.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.cache
def license_table() -> LicenseTable:
    text = resources.files("humannet.assets").joinpath("licenses.yaml").read_text()
    return LicenseTable(yaml.safe_load(text), text)


def normalize_license(value: Any) -> Normalized:
    return license_table().normalize(value)


class LicenseStage(Stage):
    """Normalises the video's licence text and labels every clip with it; never drops or fails.

    Its version includes the licence table's digest, so editing `licenses.yaml` marks the
    licence columns of existing corpora as out of date (see `humannet review`).
    """

    name: ClassVar[str] = "license"
    version: ClassVar[str] = f"1+table{license_table().version}.{license_table().digest}"
    produces: ClassVar[tuple[str, ...]] = ("license_spdx", "license_issue")
    produces_video: ClassVar[tuple[str, ...]] = ("license_spdx", "review_stamps")  # its stamp: by the pipeline
    reads: ClassVar[tuple[str, ...]] = ("meta", "clips")
    rerunnable: ClassVar[bool] = True

    def process(self, video: Video) -> Video:
        apply_license(video)
        return video


def apply_license(video: Video) -> None:
    result = normalize_license(video.meta.get("license"))
    video.meta["license_spdx"] = result.id
    for clip in video.clips:
        clip.labels["license_spdx"] = result.id
        if result.issue:
            clip.labels["license_issue"] = result.issue
        else:
            clip.labels.pop("license_issue", None)
