"""The train form sends what differs from the chosen recipe's defaults: the values it shows are the values that run."""

from rm_training.config import recipe_default
from training.forms import TrainForm, _field_key


def _submitted(recipe: str, **values) -> dict[str, str]:
    form = TrainForm()
    data = {"recipe": recipe, "model_path": "", "num_processes": 1, "extra": ""}
    for item in form.hyperparameters:
        data[_field_key(item.name)] = values.get(item.name, item.default)
    bound = TrainForm(data=data)
    assert bound.is_valid(), bound.errors
    return bound.overrides()


def test_rapo_has_the_papers_defaults_and_other_recipes_the_shared_ones():
    assert recipe_default("rapo", "optim.learning_rate") == 1e-6
    assert recipe_default("rapo", "optim.batch_size") == 2  # not a rapo default: the shared one
    assert recipe_default("aesrm-base", "optim.learning_rate") == 1e-4


def test_the_shared_defaults_shown_by_the_form_are_sent_for_rapo_and_its_own_are_not():
    """The form shows learning rate 1e-4 and 20 SFT steps: for rapo (1e-6, 0) they are choices, sent as overrides;
    rapo's own values typed in are its defaults, so nothing is sent."""
    assert _submitted("rapo") == {"optim.learning_rate": "0.0001", "stages.sft_steps": "20"}
    assert _submitted("rapo", **{"optim.learning_rate": 1e-6, "stages.sft_steps": 0}) == {}
    assert _submitted("aesrm-base") == {}
