"""How long the comparison of a reward model's leaderboard with the experts' takes (leaderboards.concordance), and
how well its figures track a model's real quality.

    .venv/bin/python benchmarks/model_leaderboard.py [--generators 8] [--pairs 100,1000,2500] [--resamples 200]

No database and no Django: the same functions the page, the API and the command call. The world: generators with
true log-strengths evenly spaced in [-1.5, 1.5]; each pair's true verdict drawn from the Davidson model (tie
parameter 0.5); the experts' consensus right 85% of the time, the model right `accuracy` of the time (a wrong answer
is one of the two other verdicts at random). For each number of pairs and model accuracy it prints the figures
(Kendall tau, verdict agreement, with their intervals) and the seconds the whole bootstrap took.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leaderboards.concordance import JointPair, concordance_fit  # noqa: E402

TIE = 0.5


def _noisy(truth: int, accuracy: float, random: np.random.Generator) -> int:
    if random.random() < accuracy:
        return truth
    return int(random.choice([verdict for verdict in (-1, 0, 1) if verdict != truth]))


def world(n_generators: int, n_pairs: int, model_accuracy: float, seed: int) -> list[JointPair]:
    random = np.random.default_rng(seed)
    strengths = np.linspace(-1.5, 1.5, n_generators)
    pairs = []
    for _ in range(n_pairs):
        first, second = random.choice(n_generators, size=2, replace=False)
        win, lose = np.exp(strengths[first]), np.exp(strengths[second])
        tie = TIE * np.sqrt(win * lose)
        truth = int(random.choice([1, -1, 0], p=np.array([win, lose, tie]) / (win + lose + tie)))
        pairs.append(
            JointPair(int(first), int(second), _noisy(truth, 0.85, random), _noisy(truth, model_accuracy, random))
        )
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generators", type=int, default=8)
    parser.add_argument("--pairs", default="100,1000,2500")
    parser.add_argument("--accuracies", default="0.85,0.6,0.4")
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    print(f"{options.generators} generators, {options.resamples} resamples; experts' consensus right 85% of the time")
    print(f"{'pairs':>6} {'model right':>11} {'tau':>6} {'tau interval':>16} {'verdicts':>8} {'interval':>14} {'s':>6}")
    for n_pairs in (int(value) for value in options.pairs.split(",")):
        for accuracy in (float(value) for value in options.accuracies.split(",")):
            pairs = world(options.generators, n_pairs, accuracy, options.seed)
            started = time.perf_counter()
            result = concordance_fit(pairs, options.generators, n_resamples=options.resamples, seed=options.seed)
            seconds = time.perf_counter() - started
            tau_low, tau_high = result.kendall_tau_ci
            agree_low, agree_high = result.verdict_agreement_ci
            print(
                f"{n_pairs:>6} {accuracy:>11.0%} {result.point.kendall_tau:>6.2f} {tau_low:>7.2f} to {tau_high:<5.2f}"
                f" {result.point.verdict_agreement:>8.2f} {agree_low:>5.2f} to {agree_high:<5.2f} {seconds:>6.1f}"
            )


if __name__ == "__main__":
    main()
