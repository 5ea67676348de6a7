"""JSON from outside, read without surprises: a body nested deeper than any real message is refused with
a reason (the standard parser would raise RecursionError on `[[[[…` 20,000 deep, i.e. a 500), and so is
one that is not UTF-8 or not JSON at all."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # the deepest real message (a booking event) is 3 levels


class BadJson(ValueError):
    """Why a body is not acceptable JSON, in words safe to show."""


def depth_of(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (a scalar: 0); iterative, so never a RecursionError."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def load_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed value, or BadJson saying why not."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadJson(f"nested more than {max_depth} levels deep") from None
    except UnicodeDecodeError as exc:
        raise BadJson(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # json.JSONDecodeError, or an integer too long for int()
        raise BadJson(f"not JSON: {exc}") from None
    if depth_of(value) > max_depth:
        raise BadJson(f"nested more than {max_depth} levels deep")
    return value


def ascii_int(text: str) -> int | None:
    """`text` as a non-negative integer when it is ASCII digits only (at most 18 of them), else None.
    `str.isdigit()` also accepts "²", "①", "٣" and fullwidth digits, which int() refuses or reads."""
    if not text or len(text) > 18 or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
