"""Numbers as a person reads them in a table: one helper, `number_text`, for every table of the app.

4 significant digits; scientific notation (3e-11, 1.235e5) where plain decimals would be long or
read as zero; whole numbers (steps) as they are; "—" where there is no value (None, NaN).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

MISSING = "—"
DIGITS = 4
SMALL, LARGE = 1e-3, 1e5  # plain decimals in [SMALL, LARGE), scientific outside


def number_text(value, digits: int = DIGITS, *, percent: bool = False) -> str:
    """`value` as short text: 3.2e-11 -> "3.2e-11", 0.123456 -> "0.1235", 123456.0 -> "1.235e5",
    12 -> "12", None or NaN -> "—", and with percent=True 0.25 -> "25%".

    Text passes through unchanged; booleans read "yes"/"no"; ±inf reads "∞"/"-∞".
    """
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral) and not percent:
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return MISSING
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if percent:
        return number_text(v * 100, max(digits - 1, 1)) + "%"
    if v == 0:
        return "0"
    if SMALL <= abs(v) < LARGE:
        if abs(v) >= 10 ** (digits - 1):  # 12345.6 -> "12346": whole numbers rather than 1.235e4
            return f"{v:.0f}"
        return f"{v:.{digits}g}"
    mantissa, exp = f"{v:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exp)}"


def table_text(table, digits: int = DIGITS, *, percent: Sequence[str] = ()) -> list[dict] | dict[str, list]:
    """A table (a list of row dicts, or a dict of columns) with every value as number_text() text, same shape.

    Columns named in `percent` read as percentages.
    """
    if isinstance(table, Mapping):
        return {k: [number_text(v, digits, percent=k in percent) for v in col] for k, col in table.items()}
    return [{k: number_text(v, digits, percent=k in percent) for k, v in row.items()} for row in table]
