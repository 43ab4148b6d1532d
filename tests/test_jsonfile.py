"""The shared JSON input reader: every problem becomes one JSONFileError naming the file and the problem."""

from __future__ import annotations

import pytest

from her2viewer.jsonfile import JSONFileError, parse_json, read_json


def test_reads_a_json_file_with_a_byte_order_mark(tmp_path):
    p = tmp_path / "a.json"
    p.write_bytes(b"\xef\xbb\xbf" + b'{"a": [1, 2.5]}')
    assert read_json(p) == {"a": [1, 2.5]}


@pytest.mark.parametrize("content,problem", [
    (b"{not json", "the model card is not valid JSON"),
    (b"[" * 100000 + b"]" * 100000, "not valid JSON (nested too deeply)"),
    (b'{"x": NaN}', "non-finite number NaN"),
    (b'"\xff\xfe"', "not UTF-8 text"),
])
def test_a_bad_file_names_itself_and_the_problem(tmp_path, content, problem):
    p = tmp_path / "card.json"
    p.write_bytes(content)
    with pytest.raises(JSONFileError) as err:
        read_json(p, "model card")
    assert isinstance(err.value, ValueError)
    assert err.value.source == str(p) and problem in err.value.problem
    assert str(err.value) == f"{p}: {err.value.problem}"


def test_missing_directory_and_oversized_files_are_refused_before_reading(tmp_path):
    with pytest.raises(JSONFileError, match="cannot read the pool file"):
        read_json(tmp_path / "missing.json", "pool file")
    with pytest.raises(JSONFileError, match="not a regular file"):
        read_json(tmp_path, "pool file")
    p = tmp_path / "big.json"
    p.write_text("[" + "0," * 1000 + "0]")
    with pytest.raises(JSONFileError, match="MiB, more than the"):
        read_json(p, max_bytes=100)


def test_non_finite_numbers_only_where_allowed():
    assert parse_json('[Infinity]', allow_nonfinite=True) == [float("inf")]
    with pytest.raises(JSONFileError, match="<text>: .*Infinity"):
        parse_json('[Infinity]')
