"""How many characters each column of the store keeps.

PostgreSQL refuses a longer string (DataError) where SQLite keeps it whole, so a value is measured against
its column itself: checked when it comes from a marketer, cut when it goes into the record of a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa


def room(column: sa.Column) -> int | None:
    """The most characters ``column`` keeps; None when it has no limit (Text, JSON, numbers)."""
    return getattr(column.type, "length", None)


def fit(table: sa.Table, fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with every string cut to its column's size, so that no database can refuse the row."""
    fitted = dict(fields)
    for name, value in fields.items():
        limit = room(table.c[name])
        if isinstance(value, str) and limit is not None:
            fitted[name] = value[:limit]
    return fitted
