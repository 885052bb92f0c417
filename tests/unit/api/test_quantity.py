from decimal import Decimal

import pytest

from mlkube.api.quantity import (
    QuantityError,
    cpu_millis,
    format_bytes,
    format_millis,
    memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        ("512Mi", Decimal(512 * 2**20)),
        ("8Gi", Decimal(8 * 2**30)),
        ("1e3", Decimal(1000)),
        ("1E-2", Decimal("0.01")),
        ("100k", Decimal(100_000)),
        ("1G", Decimal(10**9)),
        ("250u", Decimal("0.00025")),
        ("+3", Decimal(3)),
    ],
)
def test_parses_like_kubernetes(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["2Gx", "abc", "", "1..2", "Gi", "1 Gi", "--1", "1Kii"])
def test_refuses_what_is_not_a_quantity(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert repr(text) in str(info.value)


def test_numbers_are_quantities_but_booleans_and_nan_are_not() -> None:
    assert parse_quantity(2) == 2
    assert parse_quantity(0.25) == Decimal("0.25")
    with pytest.raises(QuantityError):
        parse_quantity(True)
    with pytest.raises(QuantityError):
        parse_quantity(float("nan"))


def test_cpu_rounds_up_to_millicores_and_memory_to_bytes() -> None:
    assert cpu_millis("0.1") == 100
    assert cpu_millis("1") == 1000
    assert cpu_millis("1.0005") == 1001
    assert memory_bytes("1.5Ki") == 1536
    with pytest.raises(QuantityError):
        cpu_millis("-1")


def test_formats_for_display() -> None:
    assert format_bytes(512 * 2**20) == "512Mi"
    assert format_bytes(1000) == "1000"
    assert format_millis(2000) == "2"
    assert format_millis(1500) == "1500m"
