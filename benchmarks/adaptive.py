"""Leaderboard recovery and label accuracy on simulated experts whose truth and reliability are known (issue 17).

    .venv/bin/python benchmarks/adaptive.py [--generators 8] [--repeats 10] [--budgets 25,50,100,200,400,800]
        [--plot adaptive.png] [--seed 0] [--round-size N]

No database and no Django: it uses the same fit (leaderboards.ranking) and Dawid-Skene (leaderboards.reliability)
as the app. The world:
- generators with true log-strengths evenly spaced in [-1.5, 1.5]; a pair's true verdict is drawn from the
  Davidson model with tie parameter 0.5 (so about 15-20% of close pairs are ties);
- pairs by random pairing: two different generators drawn uniformly; or, in (a), by active pairing
  (leaderboards.active, the app's `active` strategy) in rounds of --round-size pairs (default 10% of the budget),
  each round chosen on the majority-vote labels of the rounds before;
- five experts, three drawn at random per pair (overlap 3): two careful (right 90% of the time), one decent (75%),
  one careless (40%, barely above the 1/3 of chance) and one adversary (always the opposite of a decisive truth, a
  random side on a true tie). A wrong answer is one of the two other verdicts at random.
For each budget (number of pairs) and repeat it reports:
(a) Kendall tau between the true generator order and the leaderboard fitted on the labels of majority vote (the
    app's rule: a shared top count is "comparable"), of Dawid-Skene, and of the true verdicts (the ceiling); then
    a second table, random vs active pairing on majority-vote labels, each design in the same worlds;
(b) the share of pairs whose label equals the true verdict, for majority vote and for Dawid-Skene.
Figures are means over the repeats (each repeat a new world from seed + repeat), with the standard deviation of tau.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaderboards import active  # noqa: E402
from leaderboards.ranking import Comparison, ranking_fit  # noqa: E402
from leaderboards.reliability import dawid_skene  # noqa: E402

TIE_PARAMETER = 0.5
OVERLAP = 3
# (name, accuracy); None: adversarial.
EXPERTS = [("careful-1", 0.9), ("careful-2", 0.9), ("decent", 0.75), ("careless", 0.4), ("adversary", None)]
VERDICTS = (-1, 0, 1)


@dataclass
class Row:
    pairs: int
    judgments: int
    tau_majority: list[float]
    tau_dawid_skene: list[float]
    tau_truth: list[float]
    accuracy_majority: list[float]
    accuracy_dawid_skene: list[float]


def true_verdict(random: np.random.Generator, theta_a: float, theta_b: float) -> int:
    """Draw A wins (+1), tie (0) or B wins (-1) from the Davidson model."""
    weights = np.array([np.exp(theta_a), TIE_PARAMETER * np.exp((theta_a + theta_b) / 2), np.exp(theta_b)])
    return (1, 0, -1)[random.choice(3, p=weights / weights.sum())]


def expert_verdict(random: np.random.Generator, truth: int, accuracy: float | None) -> int:
    if accuracy is None:
        return -truth if truth != 0 else int(random.choice([-1, 1]))
    if random.random() < accuracy:
        return truth
    return int(random.choice([value for value in VERDICTS if value != truth]))


def majority(labels: list[int]) -> int:
    """The app's vote (agreement.selectors): the most given verdict; a shared top count is 0, "comparable"."""
    counts = {value: labels.count(value) for value in VERDICTS}
    top = max(counts.values())
    winners = [value for value, count in counts.items() if count == top]
    return winners[0] if len(winners) == 1 else 0


def tau_of(theta_true: np.ndarray, pairs: list[tuple[int, int]], labels: list[int]) -> float:
    comparisons = [Comparison(a, b, label) for (a, b), label in zip(pairs, labels, strict=True)]
    names = [f"g{index}" for index in range(len(theta_true))]
    fitted = ranking_fit(names, comparisons, n_resamples=0)
    return float(kendalltau(theta_true, fitted.scores).statistic)


def simulate(*, n_generators: int, n_pairs: int, seed: int) -> tuple[float, float, float, float, float]:
    random = np.random.default_rng(seed)
    theta_true = np.linspace(-1.5, 1.5, n_generators)
    random.shuffle(theta_true)
    pairs = [tuple(int(g) for g in random.choice(n_generators, size=2, replace=False)) for _ in range(n_pairs)]
    truths = [true_verdict(random, theta_true[a], theta_true[b]) for a, b in pairs]
    raw = []  # (pair index, expert, verdict)
    for index, truth in enumerate(truths):
        for expert in random.choice(len(EXPERTS), size=OVERLAP, replace=False):
            name, accuracy = EXPERTS[expert]
            raw.append((index, name, expert_verdict(random, truth, accuracy)))
    by_pair: list[list[int]] = [[] for _ in pairs]
    for index, _, verdict in raw:
        by_pair[index].append(verdict)
    majority_labels = [majority(labels) for labels in by_pair]
    model = dawid_skene(raw)
    dawid_skene_labels = [model.labels[index] for index in range(n_pairs)]
    return (
        tau_of(theta_true, pairs, majority_labels),
        tau_of(theta_true, pairs, dawid_skene_labels),
        tau_of(theta_true, pairs, truths),
        float(np.mean(np.array(majority_labels) == np.array(truths))),
        float(np.mean(np.array(dawid_skene_labels) == np.array(truths))),
    )


# --- (a) Leaderboard recovery: random pairing vs active pairing ------------------------------------------


@dataclass
class RecoveryRow:
    pairs: int
    judgments: int
    tau_random: list[float]
    tau_active: list[float]


def consensus_label_simulate(random: np.random.Generator, theta_a: float, theta_b: float) -> int:
    """A pair judged by OVERLAP experts drawn from EXPERTS, labelled by majority vote (the app's consensus)."""
    truth = true_verdict(random, theta_a, theta_b)
    labels = [
        expert_verdict(random, truth, EXPERTS[expert][1])
        for expert in random.choice(len(EXPERTS), size=OVERLAP, replace=False)
    ]
    return majority(labels)


def recovery_random_vs_active(*, n_generators: int, n_pairs: int, round_size: int, seed: int) -> tuple[float, float]:
    """Kendall tau of the recovered order after `n_pairs` consensus labels, in one world, for two designs: random
    pairing (two different generators drawn uniformly per pair) and active pairing (rounds of `round_size` pairs
    chosen by leaderboards.active on the labels so far)."""
    random = np.random.default_rng(seed)
    theta_true = np.linspace(-1.5, 1.5, n_generators)
    random.shuffle(theta_true)
    names = [f"g{index}" for index in range(n_generators)]

    def judged(pairs: list[tuple[int, int]]) -> list[Comparison]:
        return [Comparison(a, b, consensus_label_simulate(random, theta_true[a], theta_true[b])) for a, b in pairs]

    def tau(comparisons: list[Comparison]) -> float:
        fitted = ranking_fit(names, comparisons, n_resamples=0)
        return float(kendalltau(theta_true, fitted.scores).statistic)

    random_pairs = [tuple(int(g) for g in random.choice(n_generators, size=2, replace=False)) for _ in range(n_pairs)]
    tau_random = tau(judged(random_pairs))

    every_pair = {(a, b): n_pairs for a in range(n_generators) for b in range(a + 1, n_generators)}
    comparisons: list[Comparison] = []
    round_number = 0
    while len(comparisons) < n_pairs:
        fitted = active.ranking_for_selection(names, comparisons)
        size = min(round_size, n_pairs - len(comparisons))
        picks = active.active_pairs_choose(fitted, every_pair, round_size=size, seed=seed + round_number)
        comparisons += judged([(pick.first, pick.second) for pick in picks])
        round_number += 1
    return tau_random, tau(comparisons)


def recovery_rows(
    *, n_generators: int, budgets: list[int], repeats: int, round_size: int | None, seed: int
) -> list[RecoveryRow]:
    """One row per budget; rounds of `round_size` pairs, or of 10% of the budget when None."""
    rows = []
    for n_pairs in budgets:
        size = round_size or max(1, round(n_pairs / 10))
        results = [
            recovery_random_vs_active(n_generators=n_generators, n_pairs=n_pairs, round_size=size, seed=seed + repeat)
            for repeat in range(repeats)
        ]
        tau_random, tau_active = (list(column) for column in zip(*results, strict=True))
        rows.append(RecoveryRow(n_pairs, n_pairs * OVERLAP, tau_random, tau_active))
    return rows


def recovery_table_print(rows: list[RecoveryRow], *, n_generators: int, repeats: int, round_size: int | None) -> None:
    rounds = f"rounds of {round_size} pairs" if round_size else "rounds of 10% of the budget"
    print(
        f"\n(a) {n_generators} generators, consensus (majority of {OVERLAP} experts) labels, random vs active "
        f"pairing ({rounds}), {repeats} worlds per row; tau mean ± sd"
    )
    print(f"{'pairs':>6} {'judgments':>9} | {'tau random':>13} {'tau active':>13}")
    for row in rows:
        print(
            f"{row.pairs:>6} {row.judgments:>9} | "
            + " ".join(f"{np.mean(values):>6.3f} ± {np.std(values):.3f}" for values in (row.tau_random, row.tau_active))
        )


def recovery_plot(axes, rows: list[RecoveryRow]) -> None:
    """(a) Kendall tau against judgments, random vs active pairing, mean ± sd."""
    judgments = [row.judgments for row in rows]
    for label, key in (("random pairing", "tau_random"), ("active pairing", "tau_active")):
        means = [np.mean(getattr(row, key)) for row in rows]
        spread = [np.std(getattr(row, key)) for row in rows]
        axes.errorbar(judgments, means, yerr=spread, marker="o", capsize=3, label=label)
    axes.set_xscale("log")
    axes.set_xlabel("judgments (majority of 3 experts per pair)")
    axes.set_ylabel("Kendall tau, true vs recovered order")
    axes.legend(fontsize=8)


def plot(rows: list[Row], path: Path, recovery_rows: list[RecoveryRow] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13.5 if recovery_rows else 9, 3.6))
    recovery, accuracy, *designs = figure.subplots(1, 3 if recovery_rows else 2)
    judgments = [row.judgments for row in rows]
    for label, key in (
        ("majority vote", "tau_majority"),
        ("Dawid-Skene", "tau_dawid_skene"),
        ("true labels", "tau_truth"),
    ):
        means = [np.mean(getattr(row, key)) for row in rows]
        spread = [np.std(getattr(row, key)) for row in rows]
        recovery.errorbar(judgments, means, yerr=spread, marker="o", capsize=3, label=label)
    recovery.set_xscale("log")
    recovery.set_xlabel("judgments (random pairing, 3 experts per pair)")
    recovery.set_ylabel("Kendall tau, true vs recovered order")
    recovery.legend(fontsize=8)
    for label, key in (("majority vote", "accuracy_majority"), ("Dawid-Skene", "accuracy_dawid_skene")):
        accuracy.plot(judgments, [np.mean(getattr(row, key)) for row in rows], marker="o", label=label)
    accuracy.set_xscale("log")
    accuracy.set_xlabel("judgments")
    accuracy.set_ylabel("share of pair labels equal to the truth")
    accuracy.legend(fontsize=8)
    if recovery_rows:
        recovery_plot(designs[0], recovery_rows)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generators", type=int, default=8, help="Number of generators.")
    parser.add_argument("--repeats", type=int, default=10, help="Simulated worlds per budget.")
    parser.add_argument("--budgets", default="25,50,100,200,400,800", help="Numbers of pairs, comma-separated.")
    parser.add_argument("--plot", type=Path, default=Path("adaptive.png"), help="Where the PNG plot goes.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the first world.")
    parser.add_argument(
        "--round-size", type=int, default=None, help="(a) active pairing: pairs per round (default 10%% of the budget)."
    )
    arguments = parser.parse_args()

    rows = []
    for n_pairs in (int(value) for value in arguments.budgets.split(",")):
        results = [
            simulate(n_generators=arguments.generators, n_pairs=n_pairs, seed=arguments.seed + repeat)
            for repeat in range(arguments.repeats)
        ]
        rows.append(Row(n_pairs, n_pairs * OVERLAP, *(list(column) for column in zip(*results, strict=True))))

    experts = ", ".join(f"{name} {accuracy if accuracy else 'adversarial'}" for name, accuracy in EXPERTS)
    print(
        f"{arguments.generators} generators, random pairing, {OVERLAP} of {len(EXPERTS)} experts per pair "
        f"({experts}), "
        f"{arguments.repeats} worlds per row; tau mean ± sd"
    )
    print(
        f"{'pairs':>6} {'judgments':>9} | {'tau majority':>13} {'tau D-S':>13} {'tau truth':>13} | "
        f"{'acc majority':>12} {'acc D-S':>8}"
    )
    for row in rows:
        print(
            f"{row.pairs:>6} {row.judgments:>9} | "
            + " ".join(
                f"{np.mean(values):>6.3f} ± {np.std(values):.3f}"
                for values in (row.tau_majority, row.tau_dawid_skene, row.tau_truth)
            )
            + f" | {np.mean(row.accuracy_majority):>12.3f} {np.mean(row.accuracy_dawid_skene):>8.3f}"
        )
    budgets = [int(value) for value in arguments.budgets.split(",")]
    recovery = recovery_rows(
        n_generators=arguments.generators,
        budgets=budgets,
        repeats=arguments.repeats,
        round_size=arguments.round_size,
        seed=arguments.seed,
    )
    recovery_table_print(
        recovery, n_generators=arguments.generators, repeats=arguments.repeats, round_size=arguments.round_size
    )
    plot(rows, arguments.plot, recovery)
    print(f"plot: {arguments.plot}")


if __name__ == "__main__":
    main()


# --- (c) Adaptive overlap: judgments saved for the same label accuracy --------------------------------------------
# Run by the same command, after (a) and (b) (`--budgets 25` keeps those short); it reads --generators, --seed and
# --repeats, and judges OVERLAP_PAIRS pairs per world.
#
# The same world (generators, Davidson truths, the five experts above), but every expert answers every pair once,
# in an order drawn per pair; a strategy reads those answers in that order, so all strategies judge the same pairs
# with the same answers. "fixed k": the first k experts. "adaptive m-M": the first m, then one more at a time while
# the verdicts disagree by the app's rule (annotation.overlap.dimension_verdicts_disagree: the majority, ties voting
# "comparable", backed by less than the agreement threshold, 0.6 as campaigns default to), up to M. The label of a
# pair is the majority vote of its judgments (the app's rule) or Dawid-Skene over all of a strategy's judgments.

from annotation.overlap import dimension_verdicts_disagree  # noqa: E402

OVERLAP_STRATEGIES = [
    ("fixed", 2, 2),
    ("fixed", 3, 3),
    ("fixed", 4, 4),
    ("fixed", 5, 5),
    ("adaptive", 2, 4),
    ("adaptive", 2, 5),
    ("adaptive", 3, 5),
]
AGREEMENT_THRESHOLD = 0.6
OVERLAP_PAIRS = 400


def adaptive_overlap_judges(verdicts_in_order: list[int], *, minimum: int, maximum: int) -> list[int]:
    """The verdicts a pair collects under overlap `minimum`..`maximum`: the first `minimum`, then one more at a time
    while they disagree (the app's rule), up to `maximum`. minimum == maximum is a fixed overlap."""
    taken = verdicts_in_order[:minimum]
    while len(taken) < maximum and dimension_verdicts_disagree(
        [{"verdict": verdict} for verdict in taken], threshold=AGREEMENT_THRESHOLD
    ):
        taken = verdicts_in_order[: len(taken) + 1]
    return taken


def simulate_overlap(*, n_generators: int, n_pairs: int, seed: int) -> dict[str, tuple[float, float, float, float]]:
    """Strategy name -> (judgments per pair, share of pairs given more than the minimum, accuracy of majority vote,
    accuracy of Dawid-Skene) in one world."""
    random = np.random.default_rng(seed)
    theta_true = np.linspace(-1.5, 1.5, n_generators)
    random.shuffle(theta_true)
    pairs = [tuple(int(g) for g in random.choice(n_generators, size=2, replace=False)) for _ in range(n_pairs)]
    truths = np.array([true_verdict(random, theta_true[a], theta_true[b]) for a, b in pairs])
    orders = [random.permutation(len(EXPERTS)) for _ in pairs]
    answers = [
        [expert_verdict(random, truth, EXPERTS[expert][1]) for expert in order]
        for truth, order in zip(truths, orders, strict=True)
    ]
    results = {}
    for kind, minimum, maximum in OVERLAP_STRATEGIES:
        raw, majority_labels, raised = [], [], 0
        for index, (order, verdicts) in enumerate(zip(orders, answers, strict=True)):
            taken = adaptive_overlap_judges(verdicts, minimum=minimum, maximum=maximum)
            raised += len(taken) > minimum
            majority_labels.append(majority(taken))
            raw += [(index, EXPERTS[expert][0], verdict) for expert, verdict in zip(order, taken, strict=False)]
        model = dawid_skene(raw)
        dawid_skene_labels = np.array([model.labels[index] for index in range(n_pairs)])
        results[f"{kind} {minimum}" if minimum == maximum else f"{kind} {minimum}-{maximum}"] = (
            len(raw) / n_pairs,
            raised / n_pairs,
            float(np.mean(np.array(majority_labels) == truths)),
            float(np.mean(dawid_skene_labels == truths)),
        )
    return results


def overlap_table_print(*, n_generators: int, n_pairs: int, repeats: int, seed: int) -> None:
    worlds = [
        simulate_overlap(n_generators=n_generators, n_pairs=n_pairs, seed=seed + repeat) for repeat in range(repeats)
    ]
    print()
    print(
        f"(c) adaptive overlap: {n_pairs} pairs, all {len(EXPERTS)} experts above in a random order per pair, "
        f"agreement threshold {AGREEMENT_THRESHOLD}, {repeats} worlds; means (sd of accuracy over worlds)"
    )
    print(f"{'strategy':<13} {'judgments/pair':>14} {'raised':>7} | {'acc majority':>15} {'acc D-S':>15}")
    for name in worlds[0]:
        per_pair, raised, by_majority, by_dawid_skene = (
            np.array(column) for column in zip(*(world[name] for world in worlds), strict=True)
        )
        print(
            f"{name:<13} {per_pair.mean():>14.2f} {raised.mean():>7.1%} | "
            f"{by_majority.mean():>7.3f} ({by_majority.std():.3f}) {by_dawid_skene.mean():>7.3f} "
            f"({by_dawid_skene.std():.3f})"
        )


if __name__ == "__main__":
    overlap_parser = argparse.ArgumentParser(add_help=False)
    overlap_parser.add_argument("--generators", type=int, default=8)
    overlap_parser.add_argument("--repeats", type=int, default=10)
    overlap_parser.add_argument("--seed", type=int, default=0)
    overlap_arguments, _ = overlap_parser.parse_known_args()
    overlap_table_print(
        n_generators=overlap_arguments.generators,
        n_pairs=OVERLAP_PAIRS,
        repeats=overlap_arguments.repeats,
        seed=overlap_arguments.seed,
    )
