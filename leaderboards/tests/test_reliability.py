"""Dawid-Skene reliability (crowd-kit) on simulated experts whose accuracy is known. No database."""

from __future__ import annotations

import numpy as np
import pytest

from leaderboards.reliability import dawid_skene, dawid_skene_of_ratings, weight_from_accuracy


def simulated_labels(seed: int = 0, n_items: int = 300):
    """Four experts on the same items: careful (90% right), decent (75%), careless (40%, near chance), and an
    adversary who always answers the opposite of a decisive truth (and a random side on a tie)."""
    random = np.random.default_rng(seed)
    truth = random.choice([-1, 0, 1], size=n_items, p=[0.4, 0.2, 0.4])
    labels = []
    for item, true_label in enumerate(truth):
        for expert, accuracy in (("careful", 0.9), ("decent", 0.75), ("careless", 0.4)):
            wrong = [value for value in (-1, 0, 1) if value != true_label]
            label = true_label if random.random() < accuracy else random.choice(wrong)
            labels.append((item, expert, int(label)))
        adversarial = -true_label if true_label != 0 else random.choice([-1, 1])
        labels.append((item, "adversary", int(adversarial)))
    return truth, labels


def test_reliability_orders_experts_by_their_true_accuracy_and_zeroes_the_adversary():
    truth, labels = simulated_labels()

    result = dawid_skene(labels)

    accuracy = {name: value.accuracy for name, value in result.annotators.items()}
    assert accuracy["careful"] > accuracy["decent"] > accuracy["careless"] > accuracy["adversary"]
    assert accuracy["careful"] == pytest.approx(0.9, abs=0.05)
    assert result.annotators["adversary"].weight == 0.0
    assert result.annotators["careful"].n_labels == len(truth)


def test_dawid_skene_recovers_more_true_labels_than_the_careful_expert_alone():
    truth, labels = simulated_labels()

    result = dawid_skene(labels)

    recovered = np.mean([result.labels[item] == label for item, label in enumerate(truth)])
    careful = np.mean([label == truth[item] for item, expert, label in labels if expert == "careful"])
    assert recovered > careful


def test_weight_is_accuracy_above_chance_rescaled():
    assert weight_from_accuracy(1.0) == 1.0
    assert weight_from_accuracy(1 / 3) == 0.0
    assert weight_from_accuracy(0.1) == 0.0
    assert weight_from_accuracy(2 / 3) == pytest.approx(0.5)


def test_no_labels_give_no_annotators():
    assert dawid_skene([]).annotators == {}


def test_items_named_by_tuples_fit_as_items_named_by_numbers_and_keep_their_names():
    """The dashboard's all-code model names items (pair, code); they are fitted as integer codes and named back."""
    _, labels = simulated_labels(n_items=120)
    by_tuple = dawid_skene([((item, "VA"), expert, label) for item, expert, label in labels])
    by_number = dawid_skene(labels)

    assert set(by_tuple.labels) == {(item, "VA") for item in range(120)}
    assert {item: label for (item, _), label in by_tuple.labels.items()} == by_number.labels
    for name, value in by_number.annotators.items():
        assert by_tuple.annotators[name].accuracy == pytest.approx(value.accuracy, abs=1e-12)


def test_a_rating_array_fits_as_the_same_labels_given_as_triples():
    """The agreement dashboard passes its (raters, items, variables) array of value indexes; every (item, variable)
    is one task, and a missing rating (NaN) is no label."""
    _, labels = simulated_labels(n_items=120)
    raters = ["careful", "decent", "careless", "adversary"]
    ratings = np.full((len(raters), 40, 3), np.nan)  # the 120 items as 40 items x 3 variables
    for item, expert, label in labels:
        ratings[raters.index(expert), item // 3, item % 3] = (-1, 0, 1).index(label)
    ratings[2, 0, 0] = np.nan  # the careless expert skipped one
    given = [(item, expert, label) for item, expert, label in labels if (item, expert) != (0, "careless")]

    from_array = dawid_skene_of_ratings(ratings, raters)
    from_triples = dawid_skene(given).annotators

    assert from_array.keys() == from_triples.keys()
    for name in raters:
        assert from_array[name].accuracy == pytest.approx(from_triples[name].accuracy, abs=1e-9)
        assert from_array[name].n_labels == from_triples[name].n_labels
    assert from_array["careless"].n_labels == 119
