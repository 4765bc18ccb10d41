"""Which kinds of identifying information a line of recognised text contains: e-mail, phone, URL, licence plate.

The text comes from OCR, in any script: it is NFKC-normalised first (full-width ＠ and ０-９
become @ and 0-9), digits of any script count as digits, and word characters of any script
count in e-mail local parts and domains. Only the kinds are returned: the matched text itself
is never stored anywhere by humannet. OCR splits and joins characters in its own ways (a space
after a dot, "@" read as "(@"), so the patterns tolerate stray spaces around "@" and ".".
"""

from __future__ import annotations

import re
import unicodedata

KINDS = ("email", "phone", "url", "plate")

# Common top-level domains (generic, and the largest country codes): a bare "name.tld" without
# http:// or www. counts as a URL only with one of these, so "e.g." or "fig.3" does not.
_TLDS = (
    "com|org|net|edu|gov|io|co|info|biz|app|dev|tv|me|ai|uk|de|fr|es|it|nl|ru|cn|jp|kr|in|br|au|ca|us|eu|ch|se|no|pl|"
    "be|at|dk|fi|pt|gr|tr|mx|ar|za|nz|ie|cz|hu|ro|ua|il|sg|hk|tw|id|th|vn|ph|my|рф|中国|日本"
)
_EMAIL = re.compile(r"[\w.%+-]+\s?@\s?[\w-]+(\s?\.\s?[\w-]+)*\s?\.\s?[^\W\d_]{2,}")
_URL = re.compile(
    rf"(https?\s?:\s?//\S+|\bwww\s?\.\s?[\w-]+\s?\.\s?\w+|\b[\w-]+(\.[\w-]+)*\.({_TLDS})\b(/\S*)?)",
    re.IGNORECASE,
)
_PHONE_CANDIDATE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().\-/]{6,}\d(?![\w.])")
_DATE_OR_TIME = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$|^\d{1,2}:\d{2}")
_PLATE = re.compile(r"^[A-Z0-9]{1,4}([ -·]?[A-Z0-9]{1,4}){1,2}$")


def normalize_text(text: str) -> str:
    """NFKC, then every Unicode decimal digit as its ASCII digit."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in folded)


def _has_phone(text: str) -> bool:
    for match in _PHONE_CANDIDATE.finditer(text):
        candidate = match.group(0).strip()
        digits = sum(ch.isdigit() for ch in candidate)
        if not 9 <= digits <= 15:
            continue
        if _DATE_OR_TIME.match(candidate.replace(" ", "")):
            continue
        if re.fullmatch(
            r"[1-9][\d.,]*", candidate
        ):  # one plain number (a score, a count); a national number starts with 0
            continue
        return True
    return False


def _is_plate(text: str) -> bool:
    """A short upper-case line mixing letters and at least two digits, 5-8 characters without separators."""
    line = text.strip()
    compact = re.sub(r"[ \-·]", "", line)
    if not 5 <= len(compact) <= 8 or not _PLATE.match(line):
        return False
    digits = sum(ch.isdigit() for ch in compact)
    letters = sum(ch.isalpha() for ch in compact)
    return digits >= 2 and letters >= 1


def find_pii(text: str, kinds: tuple[str, ...] | list[str] = KINDS) -> list[str]:
    """The kinds of identifying information in one line of text, in `KINDS` order."""
    line = normalize_text(text)
    found = []
    email = bool(_EMAIL.search(line))
    if "email" in kinds and email:
        found.append("email")
    if "phone" in kinds and _has_phone(line):
        found.append("phone")
    if "url" in kinds and not email and _URL.search(line):  # an address's domain is not a second finding
        found.append("url")
    if "plate" in kinds and _is_plate(line):
        found.append("plate")
    return found
