"""On the demo's SQLite database the agreement report and the exports read the experts' verdicts. Both take them
out of the judgments' JSON in SQL, which SQLite returns as numbers and PostgreSQL as text; reading only text left
the demo's agreement report without a single verdict."""

import json

from webapp.tests.test_demo_embedded_broker import demo_environment, manage

JUDGE_AND_READ = """
import json
import numpy as np
from agreement.selectors import campaign_ratings
from agreement.tests.factories import expert_make, judge
from annotation.models import Campaign
from annotation.services import campaign_create
from annotation.tests.factories import VideoPairFactory
from exports.selectors import batch_consensus, campaign_structure

campaign = campaign_create(name="on-sqlite")
Campaign.objects.filter(pk=campaign.pk).update(checklist=None)
campaign.refresh_from_db()
pair = VideoPairFactory(campaign=campaign)
judge(pair, expert_make("ann", campaign), VA1=1, VP=-1)
judge(pair, expert_make("ben", campaign), VA1=1, VP=0)
structure = campaign_structure(campaign=campaign)
consensus = batch_consensus(
    pair_ids=[pair.pk], criterion_codes=structure.criterion_codes, dimension_codes=structure.dimension_codes,
    threshold=0.5,
)[pair.pk]
ratings = campaign_ratings(campaign=campaign).verdicts.ratings
print(json.dumps({"rated": int((~np.isnan(ratings)).sum()), "labels": consensus["labels"]}))
"""


def test_on_sqlite_the_agreement_ratings_and_the_export_consensus_hold_every_verdict(tmp_path):
    environment = demo_environment(tmp_path)
    manage(environment, "migrate", "--noinput")

    read = json.loads(manage(environment, "shell", "-c", JUDGE_AND_READ).stdout.strip().splitlines()[-1])

    assert read["rated"] == 2 * 18
    assert read["labels"]["VA1"] == 1 and read["labels"]["VA2"] == 0
    assert read["labels"]["VP"] == 0  # one expert -1, one 0: a shared top count is "comparable"
