"""Verdicts read out of their JSON in SQL come as text on PostgreSQL and as numbers on SQLite (the embedded demo's
database): both must count, or the demo's agreement report and exports read no verdict at all."""

import numpy as np

from agreement.report import VERDICT_DOMAIN, verdict_indexes


def test_text_and_numbers_give_the_same_index_and_anything_else_none():
    as_postgresql_gives_them = np.array([["-1", "0", "1"], [None, "2", "x"]], dtype=object)
    as_sqlite_gives_them = np.array([[-1, 0, 1], [None, 2, "x"]], dtype=object)

    expected = [[VERDICT_DOMAIN.index(-1), VERDICT_DOMAIN.index(0), VERDICT_DOMAIN.index(1)], [-1, -1, -1]]
    assert verdict_indexes(as_postgresql_gives_them).tolist() == expected
    assert verdict_indexes(as_sqlite_gives_them).tolist() == expected
