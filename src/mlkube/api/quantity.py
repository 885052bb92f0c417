"""Kubernetes resource quantities: `500m`, `2`, `1.5`, `512Mi`, `8Gi`, `1e3`, `100k`.

Parsed exactly as Kubernetes' `resource.Quantity` does: a signed decimal number followed by
either a binary SI suffix (`Ki`..`Ei`), a decimal SI suffix (`n`, `u`, `m`, `k`, `M`..`E`) or a
decimal exponent (`e3`, `E-2`). Values are kept as `Decimal` so `0.1` stays exact.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_EXPONENT_RE = re.compile(r"^[eE][-+]?[0-9]+$")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity; the message says why."""


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """Return the exact value of a quantity, or raise `QuantityError` naming the problem."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"{value!r} is not a finite quantity")
        return Decimal(str(value))
    text = value.strip()
    match = _QUANTITY_RE.match(text)
    if not match:
        raise QuantityError(
            f"quantity {value!r} must match the regular expression '{QUANTITY_PATTERN}'"
        )
    number, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation:
        raise QuantityError(f"quantity {value!r} has an invalid number {number!r}") from None
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    if _EXPONENT_RE.match(suffix):
        return base * (Decimal(10) ** int(suffix[1:]))
    raise QuantityError(
        f"quantity {value!r} has an unknown suffix {suffix!r} "
        "(use Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E or an exponent like e3)"
    )


def cpu_millis(value: str | int | float | Decimal) -> int:
    """CPU quantity in millicores, rounded up as Kubernetes does (`0.1` → 100, `1` → 1000)."""
    amount = parse_quantity(value)
    if amount < 0:
        raise QuantityError(f"cpu quantity {value!r} must not be negative")
    return math.ceil(amount * 1000)


def memory_bytes(value: str | int | float | Decimal) -> int:
    """Memory quantity in bytes, rounded up (`512Mi` → 536870912, `1G` → 10**9)."""
    amount = parse_quantity(value)
    if amount < 0:
        raise QuantityError(f"memory quantity {value!r} must not be negative")
    return math.ceil(amount)


def format_bytes(value: int) -> str:
    """Shortest exact binary form of a byte count for display (`536870912` → `512Mi`)."""
    for suffix, factor in reversed(_BINARY.items()):
        if value >= factor and value % factor == 0:
            return f"{value // factor}{suffix}"
    return str(value)


def format_millis(value: int) -> str:
    """CPU millicores for display (`1500` → `1500m`, `2000` → `2`)."""
    return str(value // 1000) if value % 1000 == 0 else f"{value}m"


def human_bytes(value: int) -> str:
    """Approximate binary size for people (`112099328` → `107Mi`, `1536` → `1.5Ki`)."""
    size = float(value)
    for suffix in ("", "Ki", "Mi", "Gi", "Ti", "Pi"):
        if size < 1024 or suffix == "Pi":
            text = f"{size:.1f}".rstrip("0").rstrip(".") if size < 10 else f"{size:.0f}"
            return text + suffix
        size /= 1024
    return str(value)
