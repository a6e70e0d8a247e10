"""The leaderboard as rows for CSV downloads and the command line."""

from __future__ import annotations

from leaderboards.selectors import Leaderboard

LEADERBOARD_HEADER = ["rank", "generator", "score", "ci_low", "ci_high", "n"]
WIN_RATE_HEADER = ["generator", "opponent", "win_rate", "n"]


def leaderboard_rows(leaderboard: Leaderboard) -> list[list]:
    if leaderboard.ranking is None:
        return []
    return [
        [
            row["rank"],
            row["generator"],
            round(row["score"], 4),
            round(row["ci_low"], 4),
            round(row["ci_high"], 4),
            round(row["n"], 3),
        ]
        for row in leaderboard.ranking.rows()
    ]


def win_rate_rows(leaderboard: Leaderboard) -> list[list]:
    cells = leaderboard.as_json()["win_rate"]
    return [[cell["generator"], cell["opponent"], round(cell["win_rate"], 4), round(cell["n"], 3)] for cell in cells]


def win_rate_matrix(leaderboard: Leaderboard) -> list[dict]:
    """For the page: one row per generator, best first, with (win rate, n) against every generator in that order."""
    fitted = leaderboard.ranking
    if fitted is None:
        return []
    rows = []
    for row in fitted.order:
        cells = []
        for column in fitted.order:
            count = fitted.cell_counts[row, column]
            met = row != column and count > 0
            cells.append({"win_rate": float(fitted.win_rate[row, column]) if met else None, "n": float(count)})
        rows.append({"generator": fitted.generators[row], "cells": cells})
    return rows
