"""Marketer-written Jinja2 cannot hold a worker: each runaway text is stopped, quickly and without the memory
it asks for, with an error that says what went past which limit; ordinary personalisation still renders."""

from __future__ import annotations

import resource
import time

import pytest

from wechat_campaigns.domain.render import RenderError, RenderLimit, TooLong, compile_text, render_fields

FAN = {"openid": "oFan" + "0" * 24, "tags": ["vip", "new"], "name": "小王", "points": 1234.5}

RUNAWAY = [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "range() of 100,000"),
    ("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "more than 10,000 loop steps"),
    ("{% set s = 'ab' * 5000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}", "loop steps"),
    ("{{ 'a' * 10**9 }}", "a value of more than 20,000 characters"),
    ("{{ range(10**6) | list }}", "range() of 1,000,000 numbers; at most 1,000"),
    ("{{ 10 ** 100000 }}", "a number of more than 4,096 bits"),
    ("{{ '%0999999999d' % 1 }}", "a format width over 20,000"),
    ("{{ '{:>999999999}'.format(1) }}", "a format width over 20,000"),
    ("{{ '%s' | format(1) | center(10**9) }}", "center(1,000,000,000)"),
    ("{{ 'x'.ljust(10**9) }}", "ljust(1,000,000,000)"),
    ("{% set s = 'a' * 20000 %}{{ s.replace('a', s) }}", "a value of more than 20,000"),
    ("{% set s = 'a' * 20000 %}{{ s.join(s | list) }}", "a value of more than 20,000"),
    ("{% set s = 'a' * 15000 %}{% set t = s ~ s %}{{ t | length }}", "a value of more than 20,000"),
    ("{{ [1] | batch(10**9, 'x') | list }}", "batch(1,000,000,000)"),
    ("{{ 'a\tb'.expandtabs(10**6) }}", "a value of more than 20,000"),
    # a list holding one long text many times is small, but not once printed, joined or summed
    ("{% set s = 'a' * 20000 %}{{ [s] * 20000 }}", "a value of more than 20,000"),
    ("{% set s = 'a' * 10000 %}{{ [s, s, s] | join }}", "a value of more than 20,000"),
    ("{% set s = 'a' * 20000 %}{{ (s | list) | join(s) }}", "a value of more than 20,000"),
    ("{{ ([[1] * 20000] * 20000) | sum(start=[]) }}", "a value of more than 20,000"),
    ("{{ ['1', '2'] | sum(start='') }}", "sum() of texts or lists"),
    ("{% set s = 'ab' * 5000 %}{{ [s, s, s, s] | tojson }}", "a value of more than 20,000"),
    ("{% set s = 'a\\n' * 9000 %}{{ s | indent(width=19000) }}", "a value of more than 20,000"),
    ("{% set s = 'a ' * 9000 %}{{ s | wordwrap(1, wrapstring='x' * 19000) }}", "a value of more than 20,000"),
    ("{{ '{:{w}}'.format(1, w=10**9) }}", "a format width taken from an argument"),
    ("{{ '%*d' % (10**9, 1) }}", "a format width over 20,000"),
    (
        "{% set s = 'ab' * 10000 %}{% for i in range(1000) %}{% for j in range(10) %}"
        "{% if s.upper() == s %}x{% endif %}{% endfor %}{% endfor %}",
        "took more than 50 ms to render",
    ),
]


@pytest.mark.parametrize(("source", "error"), RUNAWAY, ids=[error for _, error in RUNAWAY])
def test_runaway_text_is_stopped_quickly_and_small(source, error):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    with pytest.raises(RenderLimit, match=error.replace("(", r"\(").replace(")", r"\)")):
        compile_text(source).render(FAN)
    assert time.process_time() - started < 1.0  # it ran 100 s before
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB: never the gigabyte


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{% macro f() %}x{% endmacro %}{{ f() }}", "{% macro %} cannot be used in a campaign text"),
        ("{% set x %}{{ openid }}{% endset %}{{ x }}", "{% set %}…{% endset %} cannot be used"),
        ("{% filter upper %}hi{% endfilter %}", "{% filter %} cannot be used"),
        ("{% for t in tags recursive %}{{ loop(t) }}{% endfor %}", "recursive loops cannot be used"),
    ],
)
def test_constructs_that_hide_output_from_the_limits_are_refused_when_compiled(source, error):
    with pytest.raises(RenderError, match=error.replace("{", r"\{").replace("}", r"\}").replace("…", ".")):
        compile_text(source)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ("{{ 2.0 ** 10000 }}", "OverflowError"),
        ("{{ tags[5] }}", "list object has no element 5"),
        ("{{ namespace() }}", "'namespace' is undefined"),
        ("{{ lipsum(100000) }}", "'lipsum' is undefined"),
        ("{% set l = [] %}{{ l.append(1) }}", "access to attribute 'append'"),
    ],
)
def test_pythons_own_errors_are_render_errors_of_the_field(source, error):
    with pytest.raises(RenderError, match=error) as raised:
        render_fields({"thing1": compile_text(source)}, FAN)
    assert str(raised.value).startswith("thing1: ")


def test_output_stops_at_the_limit_it_is_given():
    text = compile_text("{{ openid * 80 }}")
    with pytest.raises(TooLong, match="more than 2,048 characters"):
        text.render(FAN, limit=2048)
    assert len(text.render(FAN)) == 28 * 80


def test_ordinary_personalisation_still_renders():
    source = (
        "{{ name | default('会员') }}，您好！{% for tag in tags %}{{ tag | upper }}{% if not loop.last %}、{% endif %}"
        "{% endfor %}，积分 {{ '%.1f' | format(points) }}，{{ '{:,}'.format(points | int) }}，"
        "{% for i in range(3) %}{{ i }}{% endfor %}{{ openid[-4:] }}"
    )
    assert compile_text(source).render(FAN) == "小王，您好！VIP、NEW，积分 1234.5，1,234，0120000"
    assert compile_text("{{ 2 ** 100 }}").render(FAN) == str(2**100)
    # numbers in the text around a format are text, not widths
    order = "{{ '订单 20261201000123 已发货：%s' % name }} {{ '会员号 998877665544 {}'.format(name) }}"
    assert compile_text(order).render(FAN) == "订单 20261201000123 已发货：小王 会员号 998877665544 小王"
    assert compile_text("{{ tags | join('、') }} {{ [1, 2, 3] | sum }}").render(FAN) == "vip、new 6"
    assert compile_text("{{ range }}").variables == frozenset()  # a global, not a fan attribute
