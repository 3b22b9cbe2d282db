"""The layering of docs/architecture.md, held by a test: what each layer may import, and SQL only in store/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "plugins" / "wechat_campaigns"
# layer -> the package's layers it must not import (and whether Airflow is off limits)
FORBIDDEN = {
    "domain": ({"wechat", "store", "campaigns", "integration"}, True),
    "wechat": ({"store", "campaigns", "integration"}, True),
    "store": ({"wechat", "campaigns", "integration"}, True),
    "campaigns": ({"integration"}, True),
}
SQL = {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "exists", "case", "literal"}


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))  # with its subpackages (wechat/api/, campaigns/sending/)


def imported(path: Path) -> set[str]:
    """Dotted names the module imports, relative ones resolved within the package."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            package = path.relative_to(PACKAGE.parent).parent.parts  # ("wechat_campaigns", "wechat", "api")
            parent = ".".join(package[: len(package) - node.level + 1])
            if node.module:
                names.add(f"{parent}.{node.module}")
            else:  # from .. import paths
                names.update(f"{parent}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def test_subpackages_are_held_to_their_layers_rules():
    assert PACKAGE / "wechat" / "api" / "mass.py" in modules("wechat")
    assert imported(PACKAGE / "wechat" / "api" / "mass.py") >= {
        "wechat_campaigns.domain",
        "wechat_campaigns.wechat.ratelimit",
    }
    assert "wechat_campaigns.store.ledger" in imported(PACKAGE / "campaigns" / "sending" / "per_fan.py")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_it_may(layer):
    layers, no_airflow = FORBIDDEN[layer]
    wrong = {}
    for path in modules(layer):
        for name in imported(path):
            parts = name.split(".")
            if parts[0] == "wechat_campaigns" and len(parts) > 1 and parts[1] in layers:
                wrong.setdefault(path.name, []).append(name)
            if no_airflow and parts[0] == "airflow":
                wrong.setdefault(path.name, []).append(name)
    assert wrong == {}


def test_sql_is_written_only_in_the_store():
    """Other layers may name an Engine in a signature; queries of the campaign store are the store's functions.
    (``integration/`` queries Airflow's own database, pools and runs, through Airflow's models: not ours.)"""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] in ("store", "integration"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            named = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sa"
            if named and node.attr in SQL:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} sa.{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                found += [f"{path.relative_to(PACKAGE)}:{node.lineno} {a.name}" for a in node.names if a.name in SQL]
    assert found == []
