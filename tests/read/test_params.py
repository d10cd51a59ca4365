"""Query parameters in ClickHouse's text form, read as the values they denote."""

from __future__ import annotations

from typing import Any

import pytest

from collector.read.params import ParameterError, value


@pytest.mark.parametrize(
    ("text", "type_name", "expected"),
    [
        ("plain", "String", "plain"),
        ("it\\'s\\ta \\\\ back", "String", "it's\ta \\ back"),
        ("\\x41\\n", "String", "A\n"),
        ("\\N", "Nullable(String)", None),
        ("2024-05-01 10:30:00", "DateTime64(3, 'UTC')", "2024-05-01 10:30:00"),
        ("[abc", "String", "[abc"),  # a String's text is never read as a literal
        ("['a\\'b', 'c''d', NULL]", "Array(Nullable(String))", ["a'b", "c'd", None]),
        ("[1, -2, 3.5, 1e3]", "Array(Float64)", [1, -2, 3.5, 1000.0]),
        ("[[1], []]", "Array(Array(UInt8))", [[1], []]),
        ("(1, 'x')", "Tuple(UInt8, String)", (1, "x")),
        ("{'k': 2, 'j': 3}", "Map(String, UInt8)", {"k": 2, "j": 3}),
        ("['x']", "LowCardinality(Array(String))", ["x"]),
    ],
)
def test_text_form_becomes_the_value_it_denotes(text: str, type_name: str, expected: Any) -> None:
    assert value(text, type_name) == expected


@pytest.mark.parametrize("text", ["['open", "[1, 2", "[1 2]", "['a'] tail", "[x]", "{'k' 2}", ""])
def test_text_that_is_no_literal_of_the_type_is_refused(text: str) -> None:
    with pytest.raises(ParameterError):
        value(text, "Array(String)")
