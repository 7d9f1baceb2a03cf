"""collector.influx.telegraf_v1 against hand-written exposition text.

Every expected point is written out by hand from the rules of Telegraf's ``metric_version = 1``
parser (measurement = family name, labels as tags plus ``url``/``host``, field by type, bucket and
quantile bounds in Go ``%g``), not produced by the code under test.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.influx import telegraf_v1
from collector.influx.telegraf_v1 import (
    ExpositionError,
    Point,
    go_float_name,
    points_from_exposition,
    telegraf_url_tag,
)

COMPAT_URL = "http://collector:8008/app/ai-metrics/scripts/metrics.js/prometheus/txt"
NATIVE_URL = "http://collector:9100/metrics"
T = 1_767_225_600_000_000_000  # a scrape time on a whole second


def _points(text: str, url: str | None = COMPAT_URL, host: str | None = "tg1") -> list[Point]:
    return points_from_exposition(text, url=url, host=host, scrape_time_ns=T)


def test_untyped_sample_is_field_value() -> None:
    assert _points("sflow_ai_bps 1.8e12\n") == [
        Point("sflow_ai_bps", {"host": "tg1", "url": COMPAT_URL}, {"value": 1.8e12}, T)
    ]


def test_type_line_changes_the_field_key() -> None:
    gauge = "# TYPE sflow_ai_bps gauge\nsflow_ai_bps 1.8e12\n"
    assert _points(gauge)[0].fields == {"gauge": 1.8e12}
    explicit_untyped = "# TYPE sflow_ai_bps untyped\nsflow_ai_bps 7\n"
    assert _points(explicit_untyped)[0].fields == {"value": 7.0}


def test_counter_keeps_total_and_labels_become_tags() -> None:
    text = (
        "# HELP fabricscope_roce_operations_total RoCE operations.\n"
        "# TYPE fabricscope_roce_operations_total counter\n"
        'fabricscope_roce_operations_total{op="RDMA WRITE Middle"} 12345\n'
        'fabricscope_roce_operations_total{op="SEND Only",empty=""} 3\n'
    )
    tags = {"host": "tg1", "url": NATIVE_URL}
    assert _points(text, url=NATIVE_URL) == [
        Point(
            "fabricscope_roce_operations_total",
            {**tags, "op": "RDMA WRITE Middle"},
            {"counter": 12345.0},
            T,
        ),
        # the empty label is dropped
        Point(
            "fabricscope_roce_operations_total", {**tags, "op": "SEND Only"}, {"counter": 3.0}, T
        ),
    ]


def test_histogram_is_one_point_per_series_with_bound_fields() -> None:
    text = (
        "# TYPE fabricscope_link_load_ratio histogram\n"
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="0.25"} 100\n'
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="0.5"} 180\n'
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="1.0"} 200\n'
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="1000000"} 200\n'
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="+Inf"} 200\n'
        'fabricscope_link_load_ratio_sum{link="leaf1:swp1"} 61.5\n'
        'fabricscope_link_load_ratio_count{link="leaf1:swp1"} 200\n'
        'fabricscope_link_load_ratio_bucket{link="leaf2:swp1",le="0.25"} 4\n'
        'fabricscope_link_load_ratio_count{link="leaf2:swp1"} 4\n'
    )
    tags = {"host": "tg1", "url": NATIVE_URL}
    assert _points(text, url=NATIVE_URL) == [
        Point(
            "fabricscope_link_load_ratio",
            {**tags, "link": "leaf1:swp1"},
            {
                "0.25": 100,
                "0.5": 180,
                "1": 200,
                "1e+06": 200,
                "+Inf": 200,
                "sum": 61.5,
                "count": 200,
            },
            T,
        ),
        # no +Inf bucket is invented, and a missing _sum is written as 0
        Point(
            "fabricscope_link_load_ratio",
            {**tags, "link": "leaf2:swp1"},
            {"0.25": 4, "count": 4, "sum": 0},
            T,
        ),
    ]


def test_histogram_without_type_line_is_three_untyped_measurements() -> None:
    text = 'x_bucket{le="1.0"} 3\nx_bucket{le="+Inf"} 4\nx_sum 2.5\nx_count 4\n'
    assert _points(text, url=None, host=None) == [
        Point("x_bucket", {"le": "1.0"}, {"value": 3.0}, T),  # label text kept as written
        Point("x_bucket", {"le": "+Inf"}, {"value": 4.0}, T),
        Point("x_sum", {}, {"value": 2.5}, T),
        Point("x_count", {}, {"value": 4.0}, T),
    ]


def test_summary_quantiles_count_and_sum() -> None:
    text = (
        "# TYPE rpc_seconds summary\n"
        'rpc_seconds{svc="a",quantile="0.5"} 0.012\n'
        'rpc_seconds{svc="a",quantile="0.99"} NaN\n'
        'rpc_seconds{svc="a",quantile="0.00001"} 0.001\n'
        'rpc_seconds_sum{svc="a"} 17.5\n'
        'rpc_seconds_count{svc="a"} 1000\n'
    )
    assert _points(text, url=None, host=None) == [
        # the NaN quantile is left out
        Point(
            "rpc_seconds",
            {"svc": "a"},
            {"0.5": 0.012, "1e-05": 0.001, "sum": 17.5, "count": 1000},
            T,
        )
    ]


def test_nan_and_inf() -> None:
    text = (
        "a NaN\n"  # no point at all
        "b +Inf\n"  # refused by the serializer, point left without fields
        "c -Inf\n"
        "d 1\n"
        "# TYPE h histogram\n"
        'h_bucket{le="1"} 1\n'
        "h_sum NaN\n"  # only the sum field is lost
        "h_count 1\n"
    )
    assert _points(text, url=None, host=None) == [
        Point("d", {}, {"value": 1.0}, T),
        Point("h", {}, {"1": 1.0, "count": 1.0}, T),
    ]


def test_histogram_with_fractional_count_reads_as_zero() -> None:
    text = '# TYPE h histogram\nh_bucket{le="1"} 1.5\nh_bucket{le="+Inf"} 2\nh_count 2\nh_sum 3\n'
    assert _points(text, url=None, host=None) == [
        Point("h", {}, {"1": 0.0, "+Inf": 0.0, "count": 0.0, "sum": 3.0}, T)
    ]


def test_tags_url_and_host_rules() -> None:
    text = 'm{url="mine",host="gpu7",path="a\\\\b \\"q\\"\\nz"} 1\n'
    [point] = points_from_exposition(
        text, url="http://user:pw@collector:8008", host="tg1", scrape_time_ns=T
    )
    # url label overwritten by the plugin (credentials removed, /metrics added); host label wins
    assert point.tags == {
        "url": "http://collector:8008/metrics",
        "host": "gpu7",
        "path": 'a\\b "q"\nz',
    }
    renamed = points_from_exposition("m 1\n", url=COMPAT_URL, url_tag="source", scrape_time_ns=T)
    assert renamed[0].tags == {"source": COMPAT_URL}
    assert points_from_exposition("m 1\n", url=COMPAT_URL, url_tag="")[0].tags == {}
    assert telegraf_url_tag("https://a:b@h:1/p?x=1") == "https://h:1/p?x=1"


def test_timestamps_and_rounding() -> None:
    text = "a 1 1601830800123\nb 2 0\nc 3 -5\n"
    points = points_from_exposition(text, scrape_time_ns=1_000_000_000_600_000_000)
    # ms → ns, rounded to the second; zero and negative stamps take the scrape time
    assert [p.time for p in points] == [
        1_601_830_800_000_000_000,
        1_000_000_001_000_000_000,
        1_000_000_001_000_000_000,
    ]
    exact = points_from_exposition("a 1 1601830800123\n", precision_ns=1_000_000)
    assert exact[0].time == 1_601_830_800_123_000_000


def test_duplicates_and_interrupted_families() -> None:
    text = (
        "# TYPE h histogram\n"
        'h_bucket{a="1",le="1"} 1\n'
        "other 5\n"
        'h_bucket{a="1",le="2"} 2\n'  # same series after another family: merged by name
        'h_bucket{a="1",le="2"} 3\n'  # repeated bound: last wins
        "dup 1\n"
        "dup 2\n"  # counter/gauge/untyped duplicates stay two points
    )
    assert _points(text, url=None, host=None) == [
        Point("h", {"a": "1"}, {"1": 1.0, "2": 3.0, "count": 0.0, "sum": 0.0}, T),
        Point("other", {}, {"value": 5.0}, T),
        Point("dup", {}, {"value": 1.0}, T),
        Point("dup", {}, {"value": 2.0}, T),
    ]


def test_whitespace_comments_and_empty_input() -> None:
    text = (
        "\n  # just a comment\n#TYPE g gauge\n"
        '\t g { a = "x" , } \t 4\n'
        "# HELP g text with \\\\ and \\n\n"
    )
    assert _points(text, url=None, host=None) == [Point("g", {"a": "x"}, {"gauge": 4.0}, T)]
    assert points_from_exposition("") == []
    assert points_from_exposition("# TYPE lonely gauge\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('m{a="\\x"} 1\n', "line 1: invalid escape sequence"),
        ("m 1\n# TYPE m gauge\n", "line 2: second TYPE line"),
        ("# TYPE m gauge\n# TYPE m counter\n", "line 2: second TYPE line"),
        ("# HELP m a\n# HELP m b\n", "line 2: second HELP line"),
        ('m{a="1",a="2"} 1\n', "line 1: duplicate label names"),
        ("m 1 \n", "line 1: expected integer as timestamp"),
        ("m 1 2 \n", "line 1: spurious string after timestamp"),
        ("m 1", "line 1: unexpected end of input stream"),
        ("m one\n", "line 1: expected float as value"),
        ("m 0x1p-2\n", "line 1: expected float as value"),
        ("m 1_000\n", "line 1: expected float as value"),
        ("m 1 1.5\n", "line 1: expected integer as timestamp"),
        ("# TYPE m info\n", "line 1: unknown metric type"),
        ('m{a="1} 1\n', "line 1: label value '1} 1' contains unescaped new-line"),
        ('m{a="1"b="2"} 1\n', "line 1: unexpected end of label value"),
        ('m{__name__="x"} 1\n', "line 1: label name '__name__' is reserved"),
        ('m{1a="x"} 1\n', "line 1: invalid label name"),
        ('# TYPE h histogram\nh_bucket{le="big"} 1\n', "line 2: expected float as value for 'le'"),
        ("# TYPE gh gauge_histogram\ngh 1\n", "line 2: unexpected type"),
        ("ok 1\n9m 1\n", "line 2: invalid metric name"),
        (b'm 1\nn{a="\xff"} 1\n', "line 2: invalid UTF-8"),
    ],
)
def test_errors_fail_the_whole_scrape(text: str | bytes, message: str) -> None:
    with pytest.raises(ExpositionError, match=message.replace("(", r"\(")):
        points_from_exposition(text)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (1.0, "1"),
        (0.25, "0.25"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5e-7, "-2.5e-07"),
        (1e21, "1e+21"),
        (0.0, "0"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_go_float_name(value: float, written: str) -> None:
    assert go_float_name(value) == written


_BACKTRACKING_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.I
)


@given(st.text(alphabet="0123456789.eE+-infatyINFATY_x", max_size=24))
def test_the_float_pattern_accepts_exactly_what_the_straightforward_one_does(text: str) -> None:
    """The float pattern avoids backtracking but must accept the same language."""
    assert bool(telegraf_v1._FLOAT.fullmatch(text)) == bool(_BACKTRACKING_FLOAT.fullmatch(text))
