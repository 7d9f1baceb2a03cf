"""Line protocol encoding: escapes, number formatting, timestamps, and what cannot be written.

Expected lines are written by hand from the line protocol rules (InfluxDB's reference) and the
worked examples of Telegraf's output; a real parser (VictoriaMetrics) reads our escapes back in
``tests/test_influx_push.py``.
"""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from collector.influx.line_protocol import (
    encode_line,
    encode_point,
    escape_key,
    escape_measurement,
    escape_string_field,
    format_field,
    format_float,
)
from collector.influx.telegraf_v1 import Point, points_from_exposition


def test_floats_are_plain_decimal() -> None:
    assert format_float(1.8e12) == "1800000000000"
    assert format_float(2.0) == "2"
    assert format_float(0.25) == "0.25"
    assert format_float(-3.5) == "-3.5"
    assert format_float(1e-07) == "0.0000001"
    assert format_float(1e21) == "1" + "0" * 21
    assert format_float(1.5e-10) == "0.00000000015"
    assert format_float(123456789.125) == "123456789.125"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_read_back_exactly(value: float) -> None:
    text = format_float(value)
    assert "e" not in text.lower()
    assert float(text) == value
    assert Decimal(text) == Decimal(repr(value))  # no digits beyond the shortest repr


def test_field_values_by_type() -> None:
    assert format_field(3) == "3i"
    assert format_field(True) == "true"
    assert format_field(False) == "false"
    assert format_field('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert format_field(math.nan) is None
    assert format_field(math.inf) is None
    assert format_field(-math.inf) is None


def test_escapes() -> None:
    assert escape_measurement("a b,c=d") == "a\\ b\\,c=d"  # '=' is fine in a measurement
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"
    assert escape_key("tab\there\nnl") == "tab\\there\\nnl"
    assert escape_key("ends with\\") == "ends\\ with"  # a trailing backslash would eat the ','
    assert escape_key('quote"s stay') == 'quote"s\\ stay'
    assert escape_string_field("") == '""'


def test_telegraf_worked_example() -> None:
    """The counter example of the Telegraf mapping notes, without the url and host tags."""
    line = encode_line(
        "fabricscope_roce_operations_total",
        {"op": "RDMA WRITE Middle"},
        {"counter": 12345.0},
        1767225600000000000,
    )
    assert line == (
        "fabricscope_roce_operations_total,op=RDMA\\ WRITE\\ Middle counter=12345 "
        "1767225600000000000"
    )


def test_tags_sorted_and_empty_ones_left_out() -> None:
    line = encode_line("m", {"z": "1", "a": "2", "empty": "", "": "x", "b": "\\"}, {"v": 1.0}, None)
    assert line == "m,a=2,z=1 v=1"


def test_fields_sorted_unwritable_ones_left_out() -> None:
    line = encode_line("m", {}, {"sum": math.nan, "count": 3.0, "+Inf": 3.0, "0.5": 1.0}, 7)
    assert line == "m +Inf=3,0.5=1,count=3 7"
    assert encode_line("m", {"a": "b"}, {"gauge": math.inf}, 7) is None
    assert encode_line("m", {}, {}, 7) is None


def test_point_timestamps_in_each_precision() -> None:
    point = Point("m", {}, {"value": 1.0}, 1_767_225_600_123_456_789)
    assert encode_point(point, "ns") == "m value=1 1767225600123456789"
    assert encode_point(point, "us") == "m value=1 1767225600123456"
    assert encode_point(point, "ms") == "m value=1 1767225600123"
    assert encode_point(point, "s") == "m value=1 1767225600"


def test_histogram_from_exposition_to_lines() -> None:
    """A histogram series of our exposition becomes one line: a field per bucket bound in
    Go's %g spelling, plus count and sum (the mapping notes' example (d))."""
    text = (
        "# TYPE fabricscope_link_load_ratio histogram\n"
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="0.25"} 100\n'
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="0.5"} 180\n'
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="1.0"} 200\n'
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="1048576.0"} 200\n'
        'fabricscope_link_load_ratio_bucket{link="leaf1:swp1",le="+Inf"} 200\n'
        'fabricscope_link_load_ratio_sum{link="leaf1:swp1"} 61.5\n'
        'fabricscope_link_load_ratio_count{link="leaf1:swp1"} 200\n'
    )
    (point,) = points_from_exposition(text, scrape_time_ns=2_000_000_000, precision_ns=1_000_000)
    assert encode_point(point, "ms") == (
        "fabricscope_link_load_ratio,link=leaf1:swp1 "
        "+Inf=200,0.25=100,0.5=180,1=200,1.048576e+06=200,count=200,sum=61.5 2000"
    )
