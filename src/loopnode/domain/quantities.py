"""Quantities with units, compared and converted exactly (DECISIONS 10, SPEC-DIGEST §7 item 8).

The schema's units fall into four dimensions: mass (g, kg, t), volume (ml, l, m3), and two counts
(piece, bundle) that compare only with themselves, since a bundle has no fixed size. Within a
dimension every factor is a power of ten, so conversion only moves the decimal point
(`Decimal.scaleb`) and is exact. Values are `Decimal`s built from the JSON number's text
(`repr` of a float is its shortest round-tripping form), never from float arithmetic, so
"0.1 t + 0.2 t" is 0.3 t. Arithmetic runs in a context that traps rounding: a result that could
not be represented exactly raises instead of being silently rounded.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from loopnode.domain.errors import InvalidRequest

__all__ = [
    "Dimension",
    "Quantity",
    "Unit",
    "compare",
    "convert",
    "dimension",
    "quantity_from_json",
    "require_exchangeable",
    "require_storable",
    "same_dimension",
    "to_base",
    "to_decimal",
    "total",
]


class Unit(StrEnum):
    KG = "kg"
    G = "g"
    T = "t"
    L = "l"
    ML = "ml"
    M3 = "m3"
    PIECE = "piece"
    BUNDLE = "bundle"


class Dimension(StrEnum):
    MASS = "mass"
    VOLUME = "volume"
    PIECE = "piece"
    BUNDLE = "bundle"


# unit -> (dimension, power of ten relative to the dimension's base unit)
_UNITS: Final[Mapping[Unit, tuple[Dimension, int]]] = {
    Unit.G: (Dimension.MASS, -3),
    Unit.KG: (Dimension.MASS, 0),
    Unit.T: (Dimension.MASS, 3),
    Unit.ML: (Dimension.VOLUME, -3),
    Unit.L: (Dimension.VOLUME, 0),
    Unit.M3: (Dimension.VOLUME, 3),
    Unit.PIECE: (Dimension.PIECE, 0),
    Unit.BUNDLE: (Dimension.BUNDLE, 0),
}
_UNIT_VALUES: Final = frozenset(u.value for u in Unit)
_BASE_UNITS: Final[Mapping[Dimension, Unit]] = {
    Dimension.MASS: Unit.KG,
    Dimension.VOLUME: Unit.L,
    Dimension.PIECE: Unit.PIECE,
    Dimension.BUNDLE: Unit.BUNDLE,
}

# Bounds on values read from JSON (34 significant digits, magnitudes 1e-30..1e30): generous for
# any real consignment. Quantities derived from them by conversion (a shift of up to 6 places) and
# summing stay within the looser bounds every Quantity obeys, and well inside the 200-digit
# context, so arithmetic on them is exact; the traps make sure of it.
_INPUT_DIGITS: Final = 34
_INPUT_EXPONENT: Final = 30
_MAX_DIGITS: Final = 120
_MAX_EXPONENT: Final = 60
_EXACT: Final = decimal.Context(
    prec=200,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Rounded, decimal.Overflow],
)


@dataclass(frozen=True, slots=True)
class Quantity:
    """A non-negative, finite amount in one of the schema's units.

    Equality is structural (1000 g != 1 kg as objects); use `compare` for magnitudes.
    """

    value: Decimal
    unit: Unit

    def __post_init__(self) -> None:
        if not isinstance(self.value, Decimal):
            raise InvalidRequest(
                f"quantity value must be a Decimal, got {type(self.value).__name__}"
            )
        object.__setattr__(self, "unit", _unit(self.unit))
        _check_value(self.value, _MAX_DIGITS, _MAX_EXPONENT)


def to_decimal(number: object) -> Decimal:
    """A JSON number as an exact Decimal: ints directly, floats via their shortest `repr`."""
    if isinstance(number, bool) or not isinstance(number, int | float | Decimal):
        raise InvalidRequest(f"quantity value must be a number, got {type(number).__name__}")
    value = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    _check_value(value, _INPUT_DIGITS, _INPUT_EXPONENT)
    return value


def quantity_from_json(obj: Mapping[str, Any]) -> Quantity:
    """`{"value": number, "unit": str}` as a Quantity; raises InvalidRequest when malformed."""
    return Quantity(to_decimal(obj.get("value")), _unit(obj.get("unit")))


def dimension(unit: Unit | str) -> Dimension:
    return _UNITS[_unit(unit)][0]


def same_dimension(a: Quantity, b: Quantity) -> bool:
    return dimension(a.unit) == dimension(b.unit)


def to_base(q: Quantity) -> Quantity:
    """The same amount in its dimension's base unit: kg, l, piece or bundle."""
    return convert(q, _BASE_UNITS[dimension(q.unit)])


def convert(q: Quantity, unit: Unit | str) -> Quantity:
    """The same amount in `unit`; InvalidRequest if `unit` measures something else."""
    target = _unit(unit)
    _require_same_dimension(q.unit, target)
    shift = _UNITS[q.unit][1] - _UNITS[target][1]
    with _exact():
        return Quantity(q.value.scaleb(shift), target)


def compare(a: Quantity, b: Quantity) -> int:
    """-1, 0 or 1 as `a` is less than, equal to or greater than `b` (same dimension only)."""
    base_a, base_b = to_base(a), to_base(b)
    _require_same_dimension(base_a.unit, base_b.unit)
    return (base_a.value > base_b.value) - (base_a.value < base_b.value)


def total(quantities: Iterable[Quantity], unit: Unit | str) -> Quantity:
    """The exact sum of `quantities`, expressed in `unit` (all must share its dimension)."""
    target = _unit(unit)
    with _exact():
        amount = sum((convert(q, target).value for q in quantities), Decimal(0))
    return Quantity(amount, target)


# The smallest amount that can change hands (issue 15, "values accepted without meaning"):
# a gram or a millilitre, or one whole piece or bundle. Storage counts millionths of the base
# unit, so every exchangeable amount is stored exactly.
EXCHANGE_STEP: Final[Mapping[Dimension, Decimal]] = {
    Dimension.MASS: Decimal("0.001"),
    Dimension.VOLUME: Decimal("0.001"),
    Dimension.PIECE: Decimal(1),
    Dimension.BUNDLE: Decimal(1),
}
STORAGE_STEP: Final = Decimal("0.000001")


def require_exchangeable(q: Quantity) -> None:
    """An offered amount must be positive and a whole number of steps (1 g, 1 ml, 1 piece)."""
    base = to_base(q)
    step = EXCHANGE_STEP[dimension(base.unit)]
    smallest = f"{step.normalize()} {base.unit.value}"
    if base.value <= 0 or base.value % step != 0:
        raise InvalidRequest(
            f"quantity must be a positive whole number of {smallest} "
            f"(got {q.value} {q.unit.value})",
            {"pointer": "/quantity/value", "step": str(step.normalize()), "unit": base.unit.value},
        )


def require_storable(q: Quantity) -> None:
    """A registered amount must be a whole number of millionths of its base unit (no rounding)."""
    if to_base(q).value % STORAGE_STEP != 0:
        raise InvalidRequest(
            f"quantity {q.value} {q.unit.value} has more precision than this node stores "
            "(millionths of a kg, l, piece or bundle)",
            {"pointer": "/quantity/value"},
        )


def _unit(unit: object) -> Unit:
    if isinstance(unit, str) and unit in _UNIT_VALUES:
        return Unit(unit)
    allowed = ", ".join(u.value for u in Unit)
    raise InvalidRequest(f"unit must be one of {allowed}, got {str(unit)[:40]!r}")


def _require_same_dimension(a: Unit, b: Unit) -> None:
    if _UNITS[a][0] != _UNITS[b][0]:
        raise InvalidRequest(
            f"cannot compare or convert {a.value} ({_UNITS[a][0].value}) "
            f"with {b.value} ({_UNITS[b][0].value})"
        )


def _check_value(value: Decimal, max_digits: int, max_exponent: int) -> None:
    if not value.is_finite() or value < 0:
        raise InvalidRequest(f"quantity value must be a finite number >= 0, got {str(value)[:40]}")
    if value.is_zero():
        return
    if len(value.as_tuple().digits) > max_digits or abs(value.adjusted()) > max_exponent:
        raise InvalidRequest("quantity value has too many digits or too large or small a magnitude")


@contextmanager
def _exact() -> Iterator[None]:
    try:
        with decimal.localcontext(_EXACT):
            yield
    except decimal.DecimalException as exc:
        raise InvalidRequest("quantity arithmetic would lose precision") from exc
