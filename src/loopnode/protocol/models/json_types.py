"""JSON Schema value rules as AJV applies them: numbers, integers, `const: true`, presence.

- `number` accepts a JSON number, never a boolean or a numeric string. Ints stay ints and floats
  stay floats. An overflowing literal (`1e400`) parses to ±inf in Python and to ±Infinity in JS;
  AJV treats it as an ordinary number, so do we (only `minimum`/`maximum` can reject it). NaN is
  not JSON, so it is refused.
- `integer` also accepts an integral float (`300.0`), since JS has a single number type; we store
  it as `int` (the same JSON number). AJV's test (`!(x % 1) && !isNaN(x)`) also passes ±Infinity,
  which therefore stays a float: the one exception to the `int` annotation.
- Bounds compare exactly like AJV for every value that can reach them (the schemas' bounds are
  small, so a Python int and its JS double lie on the same side of them).
- An optional property is either absent or valid: an explicit `null` is a type error, as in AJV.
  `Opt[T]` gives `T | None` to type checkers while the validator rejects `None`; `None` on the
  model means "absent".
- `Forbidden` is `{"not": {}}`: the key may not appear at all, whatever its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, Union, get_args

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError
from pydantic_core import core_schema as cs

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class JsonNumber:
    """`type: number` (or `integer`) with optional inclusive `minimum`/`maximum`."""

    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False

    def describe_bounds(self) -> str:
        """`must be >= 0 and <= 1`, AJV's wording joined into one sentence."""
        parts = []
        if self.minimum is not None:
            parts.append(f">= {_number_text(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"<= {_number_text(self.maximum)}")
        return "must be " + " and ".join(parts)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        type_check = self._type_schema()
        if self.minimum is None and self.maximum is None:
            return type_check
        # Ints are compared as ints, so a huge int never goes through a float; an int is >= 0.01
        # exactly when it is >= 1, hence the rounded bounds. Floats are compared as floats.
        int_ge = None if self.minimum is None else math.ceil(self.minimum)
        int_le = None if self.maximum is None else math.floor(self.maximum)
        bounds = cs.union_schema(
            [
                cs.int_schema(strict=True, ge=int_ge, le=int_le),
                cs.float_schema(strict=True, ge=self.minimum, le=self.maximum),
            ],
            mode="left_to_right",
            custom_error_type="number_range",
            custom_error_message=self.describe_bounds(),
        )
        return cs.chain_schema([type_check, bounds])

    def _type_schema(self) -> CoreSchema:
        other: CoreSchema
        if self.integer:
            other = cs.no_info_after_validator_function(_integral, cs.float_schema(strict=True))
            kind, message = "integer_type", "must be an integer"
        else:
            # `ge=-inf` is the cheapest way to refuse NaN while keeping ±inf.
            other = cs.float_schema(strict=True, ge=-math.inf)
            kind, message = "number_type", "must be a number"
        return cs.union_schema(
            [cs.int_schema(strict=True), other],
            mode="left_to_right",
            custom_error_type=kind,
            custom_error_message=message,
        )


def _integral(value: float) -> int | float:
    if math.isinf(value):
        return value
    if not value.is_integer():  # NaN is not integral either
        raise PydanticCustomError("integer_type", "must be an integer")
    return int(value)


def _number_text(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


class _TrueConst:
    """`type: boolean, const: true`; a plain Literal[True] would also take 1 and 1.0."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = cs.chain_schema([cs.bool_schema(strict=True), cs.literal_schema([True])])
        return cs.custom_error_schema(
            schema, custom_error_type="const_true", custom_error_message="must be true"
        )


class _NotNull:
    """Validate `T | None` as `T` alone: the default (None) is never validated, a null is."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        members = tuple(arg for arg in get_args(source) if arg is not type(None))
        inner = members[0] if len(members) == 1 else Union[members]  # noqa: UP007
        return handler.generate_schema(inner)


class _Forbidden:
    """`{"not": {}}`: any value fails, so only an absent key is valid."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return cs.no_info_plain_validator_function(_refuse)


def _refuse(value: object) -> None:
    raise PydanticCustomError(
        "forbidden_property", "must not be present (personal contact details are not permitted)"
    )


Opt = Annotated[T | None, _NotNull()]
Forbidden = Annotated[None, _Forbidden()]
TrueConst = Annotated[bool, _TrueConst()]

Number = Annotated[int | float, JsonNumber()]
NonNegative = Annotated[int | float, JsonNumber(minimum=0)]
Fraction = Annotated[int | float, JsonNumber(minimum=0, maximum=1)]
Percent = Annotated[int | float, JsonNumber(minimum=0, maximum=100)]
Score10 = Annotated[int | float, JsonNumber(minimum=0, maximum=10)]
Latitude = Annotated[int | float, JsonNumber(minimum=-90, maximum=90)]
Longitude = Annotated[int | float, JsonNumber(minimum=-180, maximum=180)]
Integer = Annotated[int, JsonNumber(integer=True)]
Count = Annotated[int, JsonNumber(minimum=0, integer=True)]
