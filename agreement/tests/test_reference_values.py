"""Agreement numbers against published reference values, through the project's code path.

Sources
- Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Section A (binary data, two observers):
  alpha = 0.095. Section C (nominal, four observers, missing data): alpha = 0.743; the same data at the ordinal,
  interval and ratio levels (section E): 0.815, 0.849, 0.797.
- Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. 30 patients, 6 psychiatrists,
  5 diagnoses: kappa = 0.430.

Values outside the verdict scale (five categories) cannot be stored as judgments, so those examples enter at the
rating-array stage and go through `report_build`, which the dashboard and the command call. The binary example
fits the verdict scale and the checklist, so it goes in as real rows through `import_judgments` and comes out of
`manage.py agreement --json`.
"""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from statsmodels.stats.inter_rater import aggregate_raters

from agreement import metrics
from agreement.report import RatingBlock, report_build
from agreement.tests.factories import campaign_make, checklist_complete, jsonl, two_level_question, verdicts

NAN = np.nan
KRIPPENDORFF_2011_C = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)
KRIPPENDORFF_2011_A = [[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
    ]
)  # fmt: skip


def one_variable_report(values_by_rater: np.ndarray, *, level: str, resamples: int = 200):
    """Run `report_build` on one variable with categories 1..5 (codes 0..4), as the campaign report would."""
    ratings = (np.asarray(values_by_rater, dtype=float) - 1)[:, :, np.newaxis]
    raters, items = ratings.shape[:2]
    block = RatingBlock(
        ratings=ratings,
        variables=["X"],
        labels=["reference variable"],
        item_ids=list(range(items)),
        rater_ids=list(range(raters)),
        rater_names=[f"coder-{r}" for r in range(raters)],
        value_domain=(1, 2, 3, 4, 5),
        level=level,
        groups={"criteria": [0]},
    )
    swapped = np.where(np.isnan(ratings[..., 0]), NAN, 0.0)
    return report_build(
        verdicts=block, checklist=None, swapped=swapped, seconds=swapped.copy(), n_resamples=resamples, seed=7
    )


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_2011_four_coders_with_missing_data_match_the_paper_at_every_level(level, published):
    variable = one_variable_report(KRIPPENDORFF_2011_C, level=level).variables[0]

    assert round(variable.alpha, 3) == published
    assert variable.ci_low <= variable.alpha <= variable.ci_high
    assert variable.n_items == 11  # unit 12 was coded once: not pairable
    assert variable.n_raters == 4
    assert variable.fleiss_kappa is None  # units have 2, 3 or 4 coders: Fleiss' kappa is not defined


def test_bootstrap_is_reproducible_with_a_seed_and_varies_without_one():
    first = one_variable_report(KRIPPENDORFF_2011_C, level="ordinal").variables[0]
    again = one_variable_report(KRIPPENDORFF_2011_C, level="ordinal").variables[0]

    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert first.ci_low < first.ci_high


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_vectorised_bootstrap_replicates_equal_the_krippendorff_package_on_each_resample(level):
    import krippendorff

    counts = metrics.value_counts_from_ratings(KRIPPENDORFF_2011_C - 1, 5)
    weights = metrics.bootstrap_weights(n_items=12, n_resamples=25, seed=3)
    replicates = metrics.alpha_bootstrap(
        metrics.item_coincidences(counts), weights, value_domain=[1, 2, 3, 4, 5], level=level
    )
    expected = [
        krippendorff.alpha(
            value_counts=np.repeat(counts, weights[b], axis=0), value_domain=[1, 2, 3, 4, 5], level_of_measurement=level
        )
        for b in range(25)
    ]

    np.testing.assert_allclose(replicates, expected, rtol=1e-10)


@pytest.mark.parametrize("level", metrics.LEVELS)
def test_point_estimates_equal_the_krippendorff_package_per_variable_and_pooled(level):
    """The report evaluates every alpha from coincidence matrices at once; `krippendorff.alpha`, one call per
    variable, stays the reference. Fixed data: 4 experts x 60 pairs x 5 verdict variables, 30% missing."""
    import krippendorff

    rng = np.random.default_rng(11)
    ratings = rng.integers(0, 3, size=(4, 60, 5)).astype(float)
    ratings[rng.random(ratings.shape) < 0.3] = NAN
    groups = {"criteria": [0, 1, 2], "dimensions": [3, 4]}
    block = RatingBlock(
        ratings=ratings,
        variables=["C1", "C2", "C3", "D1", "D2"],
        labels=["C1", "C2", "C3", "D1", "D2"],
        item_ids=list(range(60)),
        rater_ids=list(range(4)),
        rater_names=[f"expert-{r}" for r in range(4)],
        value_domain=(-1, 0, 1),
        level=level,
        groups=groups,
    )
    swapped = np.where(np.isnan(ratings).all(axis=2), NAN, 0.0)
    report = report_build(verdicts=block, checklist=None, swapped=swapped, seconds=swapped.copy(), n_resamples=0)

    def reference(variables: list[int]) -> float:
        counts = np.concatenate([metrics.value_counts_from_ratings(ratings[:, :, k], 3) for k in variables])
        return krippendorff.alpha(value_counts=counts, value_domain=[-1, 0, 1], level_of_measurement=level)

    for k, variable in enumerate(report.variables):
        assert variable.alpha == pytest.approx(reference([k]), rel=0, abs=1e-9)
    for pooled in report.pooled:
        assert pooled.alpha == pytest.approx(reference(groups[pooled.key]), rel=0, abs=1e-9)
    paper = metrics.krippendorff_alpha(
        metrics.value_counts_from_ratings(KRIPPENDORFF_2011_C - 1, 5), value_domain=[1, 2, 3, 4, 5], level=level
    )
    paper_reference = krippendorff.alpha(
        reliability_data=KRIPPENDORFF_2011_C, value_domain=[1, 2, 3, 4, 5], level_of_measurement=level
    )
    assert paper == pytest.approx(paper_reference, rel=0, abs=1e-9)


def test_fleiss_1971_psychiatric_diagnoses_give_kappa_0_430():
    variable = one_variable_report(FLEISS_1971.T, level="nominal").variables[0]
    table, _ = aggregate_raters(FLEISS_1971)

    assert round(variable.fleiss_kappa, 3) == 0.430
    assert round(metrics.fleiss_kappa_or_none(table), 3) == 0.430
    assert variable.n_items == 30 and variable.n_raters == 6


def test_fleiss_kappas_of_every_variable_at_once_equal_statsmodels_on_each():
    """Fixed data: 3 raters x 40 items x 4 variables, every item rated by all three except in variable 3, where
    item 0 has one rater fewer (kappa undefined, as statsmodels refuses such a table); unrated items are left out."""
    from statsmodels.stats.inter_rater import fleiss_kappa

    rng = np.random.default_rng(5)
    ratings = rng.integers(0, 3, size=(3, 40, 4)).astype(float)
    ratings[:, 30:, 1] = NAN  # items nobody rated on variable 1
    ratings[0, 0, 3] = NAN
    counts = metrics.value_counts_from_ratings(ratings, 3).transpose(1, 0, 2)  # (variables, items, values)

    kappas = metrics.fleiss_kappas(counts)

    for k in (0, 1, 2):
        rated = counts[k][counts[k].sum(axis=1) > 0]
        assert kappas[k] == pytest.approx(fleiss_kappa(rated, method="fleiss"), rel=0, abs=1e-12)
    assert np.isnan(kappas[3])
    assert metrics.fleiss_kappa_or_none(counts[3]) is None


def test_krippendorff_2011_binary_example_imported_as_verdicts_gives_alpha_0_095(db, tmp_path):
    """Observer A and B rated 10 units 0/1; here 1 = "video A better" on VA1, 0 = "comparable".

    Percent agreement: units 1, 3, 6 and 9 differ, so 6/10. Fleiss' kappa for two raters is Scott's pi:
    14 zeros and 6 ones among 20 values, expected agreement 0.7**2 + 0.3**2 = 0.58, so (0.6 - 0.58) / 0.42."""
    campaign = campaign_make(name="krippendorff-binary", pairs=10, overlap=2)
    lines = []
    for observer, values in zip(("observer-a", "observer-b"), KRIPPENDORFF_2011_A, strict=True):
        for unit, value in enumerate(values, start=1):
            criteria, dimensions = verdicts(VA1=value)
            lines.append({"pair_id": f"p{unit}", "annotator": observer, "criteria": criteria, "dimensions": dimensions})
    path = tmp_path / "binary.jsonl"
    path.write_text(jsonl(lines))
    call_command("import_judgments", str(path), campaign=campaign.name, stdout=StringIO())

    out = StringIO()
    call_command("agreement", campaign=campaign.name, json=True, resamples=50, stdout=out)
    va1 = json.loads(out.getvalue())["VA1"]

    assert round(va1["alpha"], 3) == 0.095
    assert va1["percent_agreement"] == pytest.approx(0.6)
    assert va1["fleiss_kappa"] == pytest.approx(0.02 / 0.42)
    assert (va1["n_items"], va1["n_raters"]) == (10, 2)


def test_krippendorff_2011_binary_example_as_checklist_answers_gives_alpha_0_095(db, tmp_path):
    """The same two observers, now answering one yes/no checklist question about video A (1 = yes, 0 = no)."""
    campaign = campaign_make(name="krippendorff-binary-checklist", pairs=10, overlap=2, checklist=True)
    question = two_level_question(campaign)
    lines = []
    for observer, values in zip(("observer-a", "observer-b"), KRIPPENDORFF_2011_A, strict=True):
        for unit, value in enumerate(values, start=1):
            criteria, dimensions = verdicts()
            answers_a = checklist_complete(campaign, **{f"q{question.id}": "yes" if value else "no"})
            lines.append(
                {
                    "pair_id": f"p{unit}",
                    "annotator": observer,
                    "criteria": criteria,
                    "dimensions": dimensions,
                    "checklist": {"A": answers_a, "B": checklist_complete(campaign)},
                }
            )
    path = tmp_path / "binary-checklist.jsonl"
    path.write_text(jsonl(lines))
    call_command("import_judgments", str(path), campaign=campaign.name, stdout=StringIO())

    out = StringIO()
    call_command("agreement", campaign=campaign.name, json=True, resamples=50, stdout=out)
    answer = json.loads(out.getvalue())[str(question.id)]

    # Items are videos: the ten A videos carry the example, the ten B videos are "no" from both observers.
    assert (answer["n_items"], answer["n_raters"]) == (20, 2)
    assert answer["percent_agreement"] == pytest.approx(16 / 20)
    only_a = metrics.krippendorff_alpha(
        metrics.value_counts_from_ratings(np.array(KRIPPENDORFF_2011_A, dtype=float), 2),
        value_domain=("no", "yes"),
        level="nominal",
    )
    assert round(only_a, 3) == 0.095
    assert answer["alpha"] == pytest.approx(_alpha_with_ten_agreeing_noes())


def _alpha_with_ten_agreeing_noes() -> float:
    """Section A's data plus ten units both observers coded 0, by the paper's binary formula."""
    a = KRIPPENDORFF_2011_A[0] + [0] * 10
    b = KRIPPENDORFF_2011_A[1] + [0] * 10
    n_total = 2 * len(a)
    n_ones = sum(a) + sum(b)
    n_zeros = n_total - n_ones
    disagreeing_units = sum(x != y for x, y in zip(a, b, strict=True))
    # Binary alpha (Krippendorff 2011, section A): 1 - (n - 1) * o_01 / (n_0 * n_1), o_01 = disagreeing units.
    return 1 - (n_total - 1) * disagreeing_units / (n_zeros * n_ones)
