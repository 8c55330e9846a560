"""A small JSON Schema subset for checking prediction inputs (`Validate-Input`).

Supported keywords: `type` (a name or a list of names), `properties`,
`required`, `additionalProperties` (a boolean), `items`, `enum`, `minimum`,
`maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`.
Anything else in a schema is ignored. Errors come out in FastAPI's shape.
"""

from __future__ import annotations

import operator
from typing import Any, Dict, List, Mapping, Sequence, Union

Loc = List[Union[str, int]]
ValidationError = Dict[str, Any]

# FastAPI (pydantic 2) wording, so the errors read like the hosted API's.
_TYPE_ERRORS = {
    "object": ("dict_type", "Input should be a valid dictionary"),
    "array": ("list_type", "Input should be a valid list"),
    "string": ("string_type", "Input should be a valid string"),
    "number": ("float_type", "Input should be a valid number"),
    "integer": ("int_type", "Input should be a valid integer"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "null": ("none_required", "Input should be None"),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    # bool is an int in Python, never a number in JSON.
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, (int, float))
    return True


def error(loc: Sequence[Union[str, int]], msg: str, type_: str) -> ValidationError:
    """Build one FastAPI-style validation error.

    Args:
        loc: Where the error is, e.g. `["body", "input", "seconds"]`.
        msg: The human-readable message.
        type_: The machine-readable error type.

    Returns:
        A dict with `loc`, `msg` and `type`.
    """
    return {"loc": list(loc), "msg": msg, "type": type_}


def validate(
    value: Any, schema: Mapping[str, Any], loc: Sequence[Union[str, int]]
) -> List[ValidationError]:
    """Check a value against a schema.

    Args:
        value: The decoded JSON value.
        schema: The schema (the subset described in this module's docstring).
        loc: The location of `value`, the prefix of every error's `loc`.

    Returns:
        The errors found, empty when the value is valid.
    """
    here: Loc = list(loc)
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, name) for name in names):
            type_, msg = _TYPE_ERRORS.get(
                names[0], ("type_error", "Input has the wrong type")
            )
            return [error(here, msg, type_)]
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        return [error(here, "Input should be one of: " + allowed, "enum")]
    errors = _check_bounds(value, schema, here)
    if isinstance(value, dict):
        errors.extend(_check_object(value, schema, here))
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            errors.extend(validate(item, schema["items"], [*here, index]))
    return errors


def _check_bounds(
    value: Any, schema: Mapping[str, Any], loc: Loc
) -> List[ValidationError]:
    errors: List[ValidationError] = []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        checks = (
            (
                "minimum",
                operator.ge,
                "greater_than_equal",
                "greater than or equal to",
            ),
            (
                "maximum",
                operator.le,
                "less_than_equal",
                "less than or equal to",
            ),
            ("exclusiveMinimum", operator.gt, "greater_than", "greater than"),
            ("exclusiveMaximum", operator.lt, "less_than", "less than"),
        )
        for keyword, ok, type_, words in checks:
            bound = schema.get(keyword)
            if isinstance(bound, (int, float)) and not ok(value, bound):
                errors.append(error(loc, f"Input should be {words} {bound}", type_))
    if isinstance(value, str):
        low, high = schema.get("minLength"), schema.get("maxLength")
        if isinstance(low, int) and len(value) < low:
            errors.append(
                error(
                    loc,
                    f"String should have at least {low} characters",
                    "string_too_short",
                )
            )
        if isinstance(high, int) and len(value) > high:
            errors.append(
                error(
                    loc,
                    f"String should have at most {high} characters",
                    "string_too_long",
                )
            )
    return errors


def _check_object(
    value: Dict[str, Any], schema: Mapping[str, Any], loc: Loc
) -> List[ValidationError]:
    errors: List[ValidationError] = []
    properties = schema.get("properties") or {}
    for key in schema.get("required") or ():
        if key not in value:
            errors.append(error([*loc, key], "Field required", "missing"))
    for key, item in value.items():
        if key in properties:
            errors.extend(validate(item, properties[key], [*loc, key]))
        elif schema.get("additionalProperties") is False:
            errors.append(
                error([*loc, key], "Extra inputs are not permitted", "extra_forbidden")
            )
    return errors
