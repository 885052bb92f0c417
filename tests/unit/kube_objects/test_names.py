"""Names and label values: valid for Kubernetes, and shortened deterministically with a hash."""

from __future__ import annotations

import re

import pytest

from mlkube.runtime.kubernetes import dns1035_label, dns_label, label_value, shorten
from mlkube.runtime.kubernetes.names import digest

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LONG = "a" * 60 + ".run-with-a-very-long-name.example"


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("train-1", "fit", "1"), "train-1-fit-1"),
        (("x" * 63,), "x" * 63),
        (("x" * 64,), "x" * 54 + "-" + digest("x" * 64)),
        (("a.b",), "a-b-" + digest("a.b")),
        (("a-b",), "a-b"),
        (("-" * 70,), digest("-" * 70)),
    ],
)
def test_dns_label_table(parts: tuple[str, ...], expected: str) -> None:
    assert dns_label(*parts) == expected
    assert DNS1123_LABEL.match(expected) and len(expected) <= 63


def test_long_names_that_share_a_prefix_stay_apart_and_repeat_exactly() -> None:
    first, second = dns_label(LONG, "step", "1"), dns_label(LONG, "step", "2")
    assert first != second
    assert len(first) == len(second) == 63
    assert dns_label(LONG, "step", "1") == first
    assert first.startswith("a" * 54)


def test_a_limit_leaves_room_for_suffixes() -> None:
    name = dns_label(LONG, limit=58)
    assert len(name) == 58 and DNS1123_LABEL.match(name)


@pytest.mark.parametrize("text", ["run", "9run", "r" * 80, LONG, "x" * 54 + "." + "y" * 20])
def test_label_values_are_valid_and_at_most_63(text: str) -> None:
    value = label_value(text)
    assert LABEL_VALUE.match(value) and len(value) <= 63
    assert value == (text if len(text) <= 63 else value)


def test_shorten_keeps_what_fits() -> None:
    assert shorten("short") == "short"
    assert shorten("y" * 100, 20) == "y" * 11 + "-" + digest("y" * 100)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("digits", "digits"), ("9lives", dns_label("x", "9lives")), ("a.b", dns_label("a.b"))],
)
def test_service_names_start_with_a_letter(name: str, expected: str) -> None:
    assert dns1035_label(name) == expected
    assert DNS1035_LABEL.match(expected)
