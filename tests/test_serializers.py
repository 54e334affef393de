"""The serializers behave like JSON.stringify / JSON.parse, and keep the codec's contract."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

from tidings.serializers import JsonSerializer, OrjsonSerializer, Serializer, default_serializer

SERIALIZERS: list[Serializer] = [OrjsonSerializer(), JsonSerializer()]
IDS = ["orjson", "json"]


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=IDS)
@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": [1, "x", None, True, False]}, '{"a":[1,"x",null,true,false]}'),
        (["é", "\n"], '["é","\\n"]'),
        ([math.nan, math.inf, -math.inf], "[null,null,null]"),
        ({"deep": [{"n": math.nan}]}, '{"deep":[{"n":null}]}'),
        ((1, 2), "[1,2]"),
        ("s", '"s"'),
    ],
)
def test_dumps_like_json_stringify(serializer: Serializer, value: Any, text: str) -> None:
    assert serializer.dumps(value) == text


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=IDS)
@pytest.mark.parametrize("value", [b"x", ["a", bytearray(b"x")], object(), {"s": {1, 2}}])
def test_dumps_refuses_non_json_with_type_error(serializer: Serializer, value: Any) -> None:
    with pytest.raises(TypeError, match="cannot serialize"):
        serializer.dumps(value)


def test_dumps_refuses_cycles() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for serializer in SERIALIZERS:
        with pytest.raises(TypeError):
            serializer.dumps(cyclic)


def test_orjson_writes_datetimes_as_iso_8601() -> None:
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    assert OrjsonSerializer().dumps([moment]) == '["2024-05-06T07:08:09+00:00"]'


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=IDS)
def test_loads(serializer: Serializer) -> None:
    assert serializer.loads('{"a":[1,2.5,"é",null]}') == {"a": [1, 2.5, "é", None]}


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=IDS)
@pytest.mark.parametrize("text", ["[NaN]", "Infinity", "-Infinity", "[", "", "{'a':1}", "[1,]"])
def test_loads_refuses_what_json_parse_refuses(serializer: Serializer, text: str) -> None:
    with pytest.raises(ValueError):
        serializer.loads(text)


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=IDS)
def test_loads_deep_nesting_is_a_value_error(serializer: Serializer) -> None:
    with pytest.raises(ValueError):
        serializer.loads("[" * 200_000 + "]" * 200_000)


def test_default_serializer_is_a_fresh_orjson_one() -> None:
    first, second = default_serializer(), default_serializer()
    assert isinstance(first, OrjsonSerializer) and first is not second
