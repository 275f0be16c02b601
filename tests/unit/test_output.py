"""Every output format has a header (or keys) and one row per result, best first."""

from __future__ import annotations

import csv
import io
import json

from lookalike.output import OutputFormat, render

ROWS = [["b.jpg", 0.91234], ["c d.jpg", 0.5]]


def test_json_is_a_list_of_records() -> None:
    assert json.loads(render(["path", "score"], ROWS, OutputFormat.json)) == [
        {"path": "b.jpg", "score": 0.91234}, {"path": "c d.jpg", "score": 0.5}]


def test_csv_has_header_and_four_decimals() -> None:
    parsed = list(csv.reader(io.StringIO(render(["path", "score"], ROWS, OutputFormat.csv))))
    assert parsed == [["path", "score"], ["b.jpg", "0.9123"], ["c d.jpg", "0.5000"]]


def test_table_aligns_columns() -> None:
    lines = render(["path", "score"], ROWS, OutputFormat.table).splitlines()
    assert lines[0].split() == ["path", "score"]
    assert lines[1].endswith("0.9123") and lines[2].endswith("0.5000")
    assert len({len(line) for line in lines}) == 1
