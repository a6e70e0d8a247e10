"""One JSONL line per row: compact UTF-8 JSON that reads back to the same row."""

import json

import numpy as np

from exports.services import json_line


def test_a_line_is_compact_utf8_json_ending_in_a_newline_and_reads_back_to_the_row():
    row = {"prompt": "Un café à l'aube à 東京", "agreement": 0.666667, "tiny": 5e-06, "labels": {"VA": "A"},
           "checklist_a": {"1": 1, "2": None}, "adjudicated": False}
    line = json_line(row)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert "東京".encode() in line  # written as UTF-8, not \u escapes
    assert b", " not in line and b": " not in line
    assert json.loads(line) == row


def test_numpy_numbers_are_written_as_plain_json_numbers():
    line = json_line({"score": np.float64(0.25), "n_raters": np.int64(3), "swapped": np.bool_(True)})
    assert json.loads(line) == {"score": 0.25, "n_raters": 3, "swapped": True}
