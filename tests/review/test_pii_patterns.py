"""PII patterns on single lines of recognised text, in several scripts; only kinds come out, never the text."""

from __future__ import annotations

import pytest

from humannet.review.pii_patterns import find_pii


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("jane.doe@example.com", ["email"]),
        ("Contact: jane.doe @ example. com", ["email"]),  # OCR's stray spaces
        ("+1 415-555-0132", ["phone"]),
        ("(030) 1234 5678", ["phone"]),
        ("www.example.org/contact", ["url"]),
        ("https://example.net/a?b=c", ["url"]),
        ("visit example.co.uk today", ["url"]),
        ("AB12 CDE", ["plate"]),
        ("7ABC123", ["plate"]),
        ("mail jane@example.com or call 0301234567", ["email", "phone"]),
        # non-Latin scripts and forms
        ("電話：０９０－１２３４－５６７８", ["phone"]),  # Japanese, full-width digits and dashes
        ("почта: иван@пример.рф", ["email"]),  # Cyrillic internationalised address
        ("сайт пример.рф", ["url"]),
        ("هاتف ٠١٢٣٤٥٦٧٨٩", ["phone"]),  # Arabic-Indic digits
        ("联系邮箱：zhang.wei@example.cn", ["email"]),
    ],
)
def test_kinds_found(text, kinds):
    assert find_pii(text) == kinds


@pytest.mark.parametrize(
    "text",
    [
        "Hello world",
        "2024-01-15",
        "12:30:45",
        "Score 123456789",
        "Total: 1,234,567",
        "e.g. this",
        "1080p",
        "MP4",
        "GOAL 2",
        "版权所有",
        "Привет, мир",
        "مرحبا",
    ],
)
def test_ordinary_text_is_not_flagged(text):
    assert find_pii(text) == []


def test_kinds_can_be_restricted():
    assert find_pii("jane@example.com +1 415-555-0132", kinds=["phone"]) == ["phone"]
