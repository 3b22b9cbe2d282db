"""Per-fan text: marketer-written Jinja2, rendered in a sandbox.

Marketers type templates into the trigger form and material files, so they are untrusted: they render in
Jinja2's ``SandboxedEnvironment`` (no attribute tricks, bounded ``range``) with ``StrictUndefined`` (a fan
attribute that does not exist is an error, not an empty string in a customer's message).
Templates are compiled once per campaign; text without ``{{``/``{%`` skips Jinja entirely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class RenderError(ValueError):
    pass


@dataclass(frozen=True)
class CompiledText:
    source: str
    variables: frozenset[str]  # fan attributes the text uses
    _template: Any = None

    def render(self, fan: Mapping[str, Any]) -> str:
        if self._template is None:
            return self.source
        try:
            return self._template.render(fan)
        except TemplateError as exc:
            raise RenderError(f"cannot render for fan {fan.get('openid', '?')}: {exc}") from exc


@lru_cache(maxsize=256)
def compile_text(source: str) -> CompiledText:
    if "{{" not in source and "{%" not in source:
        return CompiledText(source, frozenset())
    try:
        parsed = _ENV.parse(source)
        variables = frozenset(meta.find_undeclared_variables(parsed))
        return CompiledText(source, variables, _ENV.from_string(source))
    except TemplateError as exc:
        line = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        raise RenderError(f"template syntax error{line}: {exc.message or exc}") from exc


def uses_fan_attributes(compiled: CompiledText) -> bool:
    return bool(compiled.variables)


def render_fields(compiled: Mapping[str, CompiledText], fan: Mapping[str, Any]) -> dict[str, str]:
    """Render each field for one fan; the error names the field."""
    values = {}
    for name, text in compiled.items():
        try:
            values[name] = text.render(fan)
        except RenderError as exc:
            raise RenderError(f"{name}: {exc}") from exc
    return values
