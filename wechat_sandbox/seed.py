"""Seed files: ``{"accounts": [{...account fields..., "fans": [...], "fan_groups": [...]}]}`` in JSON or YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .sandbox import AdminError, Sandbox


def read_seed(path: str | Path) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), list):
        raise AdminError(f"{path}: a seed is a mapping with an 'accounts' list")
    return data


def apply_seed(sb: Sandbox, data: dict[str, Any]) -> list[str]:
    """Create (or replace) every account of the seed; returns their appids."""
    return [sb.create_account(account).appid for account in data["accounts"]]


def apply_seed_file(sb: Sandbox, path: str | Path) -> list[str]:
    return apply_seed(sb, read_seed(path))
