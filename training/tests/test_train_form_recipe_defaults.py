"""The train form shows the chosen recipe's own defaults and sends what differs from them: the values it shows are
the values that run."""

from rm_training.config import recipe_default
from training.forms import TrainForm, _field_key


def _submitted(recipe: str, **values) -> dict[str, str]:
    form = TrainForm(initial={"recipe": recipe})
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


def test_the_form_shows_rapos_own_defaults_and_sends_only_what_was_changed():
    shown = {item.name: item.default for item in TrainForm(initial={"recipe": "rapo"}).hyperparameters}
    assert shown["optim.learning_rate"] == 1e-6 and shown["stages.sft_steps"] == 0
    assert _submitted("rapo") == {}
    assert _submitted("rapo", **{"optim.learning_rate": 1e-4, "stages.sft_steps": 20}) == {
        "optim.learning_rate": "0.0001", "stages.sft_steps": "20"}
    assert _submitted("aesrm-base") == {}
