"""Per-fan text: marketer-written Jinja2, rendered in a bounded sandbox.

Marketers type templates into the trigger form and material files, so they are untrusted. They render in
Jinja2's ``ImmutableSandboxedEnvironment`` (no attribute tricks, no changing lists or dicts) with
``StrictUndefined`` (a fan attribute that does not exist is an error, not an empty string in a customer's
message), and within limits, so that no text can hold a worker's CPU or memory:

- only expressions, ``if``, ``for`` and ``set`` — no macros, call or filter blocks, block ``set``, recursive
  loops or ``namespace``: those are the ways a template keeps output or state out of the limits' sight;
- ``range`` gives at most ``MAX_RANGE`` numbers, and a message takes at most ``MAX_LOOP_STEPS`` loop steps;
- no value inside a template (a ``*``, ``+``, ``~`` or ``%``, a filter's or a method's result) grows past
  ``MAX_VALUE`` characters, and the checks are made *before* Python builds it (``'a' * 10**9`` never
  allocates a gigabyte);
- a message's output stops at its limit (the kind's WeChat limit, by default ``MAX_VALUE``);
- a message gets at most ``RENDER_SECONDS`` of its thread's CPU.

Any failure, including Python's own (``1/0``, an overflow), is a ``RenderError``: callers name the field.
Templates are compiled once per campaign; text without ``{{``/``{%`` skips Jinja entirely.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_VALUE = 20_000  # characters (or items) of any value a template builds; as much as a conf text may hold
MAX_RANGE = 1_000
MAX_LOOP_STEPS = 10_000  # per message, all loops together
MAX_INT_BITS = 4_096  # a number a template computes (2**4096 has 1,234 digits)
RENDER_SECONDS = 0.05  # CPU per message

_REFUSED_TAGS = {
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.FilterBlock: "{% filter %}",
    nodes.AssignBlock: "{% set %}…{% endset %}",
    nodes.Block: "{% block %}",
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
}
# filters and str methods whose numeric argument is a size they build
_SIZE_ARGUMENTS = {"center", "indent", "wordwrap", "truncate", "batch", "slice", "ljust", "rjust", "zfill"}


class RenderError(ValueError):
    pass


class RenderLimit(RenderError):
    """The text went past one of the limits: it is the content's fault, whoever the fan."""


class TooLong(RenderError):
    """The rendered message is longer than WeChat takes."""


class MissingAttribute(RenderError):
    """The text uses a fan attribute this fan does not have."""


@dataclass
class _Budget:
    output_limit: int
    cpu_deadline: float
    steps: int = 0
    ticks: int = 0

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % 32 == 0 and time.thread_time() > self.cpu_deadline:
            raise RenderLimit(f"took more than {RENDER_SECONDS * 1000:.0f} ms to render")

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_LOOP_STEPS:
            raise RenderLimit(f"more than {MAX_LOOP_STEPS:,} loop steps")
        self.tick()


_BUDGET: ContextVar[_Budget] = ContextVar("render_budget")


def _tick() -> None:
    budget = _BUDGET.get(None)
    if budget is not None:
        budget.tick()


def _weight(value: Any) -> int:
    """About how many characters ``value`` becomes when printed: a list that holds one long text 20,000 times
    is small in memory but not once printed or joined."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | set | frozenset):
        return len(value) + sum(_weight(item) for item in value)
    if isinstance(value, dict):
        return len(value) + sum(_weight(key) + _weight(item) for key, item in value.items())
    return 1


def _refuse_size(size: float) -> None:
    if size > MAX_VALUE:
        raise RenderLimit(f"a value of more than {MAX_VALUE:,} characters")


def _sized(value: Any) -> Any:
    _refuse_size(_weight(value))
    return value


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")


def _check_numbers(numbers: Iterable[str]) -> None:
    for number in numbers:
        if number == "*" or (number and int(number) > MAX_VALUE):
            raise RenderLimit(f"a format width over {MAX_VALUE:,}")


def _check_percent_format(text: str) -> None:
    """``'%099999999d' % 1`` builds a huge string from a short format (widths only: text around them is free)."""
    _check_numbers(number for spec in _PERCENT_SPEC.findall(text) for number in spec)


def _check_brace_format(text: str) -> None:
    """The same for ``'{:>99999999}'.format(1)``, and a width taken from an argument (``{:{w}}``)."""
    if _NESTED_SPEC.search(text):
        raise RenderLimit("a format width taken from an argument")
    _check_numbers(number for spec in _BRACE_SPEC.findall(text) for number in re.findall(r"\*|\d+", spec))


def _check_sizes(name: str, value: Any, args: tuple, kwargs: Mapping[str, Any], method: bool) -> None:
    """Refuse, before it runs, a filter or a str method that would build a value past ``MAX_VALUE``."""
    first: Any = args[0] if args else None
    if name in _SIZE_ARGUMENTS:
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int) and arg > MAX_VALUE:
                raise RenderLimit(f"{name}({arg:,}): at most {MAX_VALUE:,}")
    if not isinstance(value, str) and name not in ("join", "sum"):
        return
    if name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        _refuse_size(len(value) + (value.count(old) if old else len(value) + 1) * max(0, len(new) - len(old)))
    elif name == "join":
        items, separator = (first, value) if method else (value, first if args else kwargs.get("d", ""))
        if hasattr(items, "__len__"):
            _refuse_size(_weight(separator) * max(0, len(items) - 1) + _weight(items))
    elif name == "sum" and any(not isinstance(item, int | float) for item in value or ()):
        raise RenderLimit("sum() of texts or lists")
    elif name in ("format", "format_map"):
        (_check_brace_format if method else _check_percent_format)(value)
    elif name == "expandtabs":
        _refuse_size(len(value) * (first if isinstance(first, int) else 8))
    elif name == "indent":
        width = kwargs.get("width", first if args else 4)
        _refuse_size(len(value) + _weight(width) * (value.count("\n") + 1))
    elif name == "wordwrap":
        width = kwargs.get("width", first if args else 79)
        wrap = kwargs.get("wrapstring", args[2] if len(args) > 2 else None) or "\n"
        _refuse_size(len(value) + (len(value) // max(1, width if isinstance(width, int) else 1) + 1) * _weight(wrap))


def _checked_binop(operator: str, left: Any, right: Any) -> None:
    sequence = (str, list, tuple)
    if operator == "*":
        if isinstance(left, int) and isinstance(right, sequence):
            left, right = right, left
        if isinstance(left, sequence) and isinstance(right, int):
            _refuse_size(_weight(left) * right)
        elif isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise RenderLimit(f"a number of more than {MAX_INT_BITS:,} bits")
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
        if right * math.log2(abs(left)) > MAX_INT_BITS:
            raise RenderLimit(f"a number of more than {MAX_INT_BITS:,} bits")
    elif operator == "+" and isinstance(left, sequence) and isinstance(right, sequence):
        _refuse_size(_weight(left) + _weight(right))
    elif operator == "%" and isinstance(left, str):
        _check_percent_format(left)


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderLimit(f"range() of {len(numbers):,} numbers; at most {MAX_RANGE:,}")
    return numbers


class _Steps:
    """A loop's iterable, counting each step against the message's budget (and keeping ``loop.length``)."""

    def __init__(self, iterable: Iterable[Any]):
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        budget = _BUDGET.get()
        for item in self.iterable:
            budget.step()
            yield item

    def __len__(self) -> int:
        # len()'s own TypeError for an iterable without a length: Jinja's loop.length then counts the items
        if not isinstance(self.iterable, Sized):
            raise TypeError(f"object of type '{type(self.iterable).__name__}' has no len()")
        return len(self.iterable)


def _checked_filter(name: str, function: Any) -> Any:
    # Jinja hands a pass_context / pass_eval_context / pass_environment filter that object first.
    skip = 1 if getattr(function, "jinja_pass_arg", None) else 0

    @functools.wraps(function)  # keeps that mark
    def checked(*args: Any, **kwargs: Any) -> Any:
        _tick()
        value = args[skip] if len(args) > skip else None
        _check_sizes(name, value, args[skip + 1 :], kwargs, method=False)
        return _sized(function(*args, **kwargs))

    return checked


def _filtered(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Bounds(NodeTransformer):
    """Counts every loop step, and checks the size of every ``~`` and every list, tuple or dict written in the
    text (Jinja has no hook for these)."""

    def visit_For(self, loop: nodes.For) -> nodes.For:
        if loop.recursive:
            raise RenderError(f"recursive loops cannot be used in a campaign text (line {loop.lineno})")
        self.generic_visit(loop)
        loop.iter = _filtered(loop.iter, "_steps")
        return loop

    def visit_List(self, literal: nodes.List) -> nodes.Filter:
        self.generic_visit(literal)
        return _filtered(literal, "_sized")

    visit_Dict = visit_List

    def visit_Tuple(self, literal: nodes.Tuple) -> nodes.Expr:
        self.generic_visit(literal)
        return _filtered(literal, "_sized") if literal.ctx == "load" else literal

    def visit_Concat(self, concat: nodes.Concat) -> nodes.Filter:
        self.generic_visit(concat)
        return _filtered(concat, "_sized")


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.globals = {"range": _bounded_range, "dict": dict}  # no lipsum, cycler, joiner, namespace
        self.filters = {name: _checked_filter(name, function) for name, function in self.filters.items()}
        self.filters["_steps"] = _Steps
        self.filters["_sized"] = _sized

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for node in tree.find_all(tuple(_REFUSED_TAGS)):
            raise RenderError(f"{_REFUSED_TAGS[type(node)]} cannot be used in a campaign text (line {node.lineno})")
        return _Bounds().visit(tree)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _checked_binop(operator, left, right)
        return _sized(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        _check_sizes(getattr(method, "__name__", ""), getattr(method, "__self__", None), args, kwargs, method=True)
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)


_ENV = _BoundedEnvironment()


@dataclass(frozen=True)
class CompiledText:
    source: str
    variables: frozenset[str]  # fan attributes the text uses
    _template: Any = None

    @property
    def dynamic(self) -> bool:
        """Whether the text is a Jinja2 template (not plain text)."""
        return self._template is not None

    def render(self, fan: Mapping[str, Any], limit: int = MAX_VALUE) -> str:
        """The text for ``fan``, at most ``limit`` characters."""
        if self._template is None:
            return self.source
        budget = _Budget(limit, time.thread_time() + RENDER_SECONDS)
        token = _BUDGET.set(budget)
        try:
            return _joined(self._template.generate(fan), budget)
        except RenderError:
            raise
        except UndefinedError as exc:
            raise MissingAttribute(f"cannot render for fan {fan.get('openid', '?')}: {exc}") from exc
        except TemplateError as exc:
            raise RenderError(f"cannot render for fan {fan.get('openid', '?')}: {exc}") from exc
        except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError, MemoryError) as exc:
            raise RenderError(f"cannot render for fan {fan.get('openid', '?')}: {type(exc).__name__}: {exc}") from exc
        finally:
            _BUDGET.reset(token)


def _joined(chunks: Iterator[str], budget: _Budget) -> str:
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > budget.output_limit:
            raise TooLong(f"more than {budget.output_limit:,} characters")
        budget.tick()
        parts.append(chunk)
    return "".join(parts)


@lru_cache(maxsize=256)
def compile_text(source: str) -> CompiledText:
    if "{{" not in source and "{%" not in source:
        return CompiledText(source, frozenset())
    try:
        parsed = _ENV.parse(source)
        variables = frozenset(meta.find_undeclared_variables(parsed)) - set(_ENV.globals)
        return CompiledText(source, variables, _ENV.from_string(source))
    except TemplateError as exc:
        lineno = getattr(exc, "lineno", None)  # a TemplateSyntaxError's
        line = f" (line {lineno})" if lineno else ""
        raise RenderError(f"template syntax error{line}: {exc.message or exc}") from exc
    except RecursionError as exc:  # thousands of nested brackets
        raise RenderError("template syntax error: nested too deeply") from exc


def uses_fan_attributes(compiled: CompiledText) -> bool:
    return bool(compiled.variables)


def render_fields(compiled: Mapping[str, CompiledText], fan: Mapping[str, Any]) -> dict[str, str]:
    """Render each field for one fan; the error names the field."""
    values = {}
    for name, text in compiled.items():
        try:
            values[name] = text.render(fan)
        except RenderError as exc:
            raise type(exc)(f"{name}: {exc}") from exc
    return values


def sample_problem(
    text: CompiledText, refusal: Callable[[str], str | None], fans: Sequence[Mapping[str, Any]]
) -> str | None:
    """Why ``text`` cannot go out, judged on a sample of fans before anything is sent: a limit it hits for
    any fan (runaway content is the content's fault, whoever the fan), or an error or ``refusal`` (what
    WeChat would refuse) that it gets for every fan. A missing attribute only leaves its fan out."""
    if not text.dynamic:
        return refusal(text.source)
    problems = []
    for fan in fans:
        try:
            problem = refusal(text.render(fan))
        except RenderLimit as exc:
            return str(exc)
        except MissingAttribute:
            continue
        except RenderError as exc:
            problem = str(exc)
        if problem is None:
            return None
        problems.append(problem)
    return problems[0] if problems and len(problems) == len(fans) else None
