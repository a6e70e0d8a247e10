import json
from pathlib import Path

import pytest
import yaml

from rm_training.cli import main
from rm_training.config import ConfigError, TrainConfig, check_machine, config_help, load_config


def test_yaml_then_overrides_win_over_defaults(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump({"recipe": "descore", "model_path": "m", "optim": {"learning_rate": 0.5}}))
    config = load_config(config_file, ["optim.learning_rate=1e-3", "video.fps=1", "descore.ties=true"])
    assert config.recipe == "descore"
    assert config.optim.learning_rate == 1e-3
    assert config.video.fps == 1.0
    assert config.descore.ties is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.batch_size=0"], "optim.batch_size must be >= 1"),
        (["optim.learning_rat=1"], "unknown config key"),
        (["grpo.num_generations=1"], "num_generations must be >= 2"),
        (["video.fps=fast"], "video.fps: expected a number"),
        (["recipe=descore"], "needs model_path"),
        (["descore.tie_log_theta=0"], "tie_log_theta must be > 0"),
        (["grpo.reference=sft"], "grpo.reference must be 'base' or 'start'"),
    ],
)
def test_invalid_values_are_rejected_with_the_field_name(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_every_config_field_has_help():
    lines = config_help()
    assert any(line.strip().startswith("optim.learning_rate") for line in lines)
    assert all(line.rsplit(":", 1)[1].strip() for line in lines)


def _vlm_config(tiny_model_path, **values):
    return TrainConfig(recipe="descore", model_path=str(tiny_model_path), **values)


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not a local model folder"):
        check_machine(TrainConfig(recipe="descore", model_path=str(tmp_path / "nope")), cuda_available=False)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"dtype": "float16"}, "float16 needs a CUDA GPU"),
        ({"mixed_precision": "fp16"}, "fp16 needs a CUDA GPU"),
        ({"distributed": "fsdp"}, "fsdp needs CUDA"),
        ({"distributed": "deepspeed"}, "deepspeed needs CUDA"),
    ],
)
def test_gpu_only_options_are_refused_on_cpu(tiny_model_path, values, message):
    with pytest.raises(ConfigError, match=message):
        check_machine(_vlm_config(tiny_model_path, **values), cuda_available=False)


def test_vllm_backend_is_refused_on_cpu(tiny_model_path):
    config = load_config(None, ["grpo.backend=vllm"], recipe="aesrm-base", model_path=str(tiny_model_path))
    with pytest.raises(ConfigError, match="vllm needs a CUDA GPU"):
        check_machine(config, cuda_available=False)


def test_cli_rejects_an_export_of_the_wrong_format(make_export, tmp_path, capsys):
    export = make_export("cot-sft", sizes={"train": 2, "validation": 1, "test": 1})
    code = main(["train", "--recipe", "checklist-linear", "--data", str(export), "--out", str(tmp_path / "run")])
    assert code == 2
    assert "has format 'cot-sft', but this recipe needs 'aesrm-pairwise'" in capsys.readouterr().err


def test_cli_rejects_a_missing_model_path(make_export, tmp_path, capsys):
    export = make_export("cot-sft", sizes={"train": 2, "validation": 1, "test": 1})
    code = main(["train", "--recipe", "descore", "--data", str(export), "--out", str(tmp_path / "run"),
                 f"model_path={tmp_path / 'missing'}"])
    assert code == 2
    assert "not a local model folder" in capsys.readouterr().err


def test_cli_train_writes_provenance_into_the_run_folder(make_export, tmp_path, capsys):
    export = make_export("aesrm-pairwise")
    run = tmp_path / "run"
    assert main(["train", "--recipe", "checklist-linear", "--data", str(export), "--out", str(run),
                 "checklist.batch_size=4"]) == 0
    info = json.loads((run / "run.json").read_text())
    manifest_hash = __import__("hashlib").sha256((export / "manifest.json").read_bytes()).hexdigest()
    assert info["data_manifest_sha256"] == manifest_hash
    assert info["data_format"] == "aesrm-pairwise"
    assert info["git_commit"]
    assert yaml.safe_load((run / "config.yaml").read_text())["checklist"]["batch_size"] == 4


def test_a_run_folder_refuses_a_different_export(make_export, tmp_path, capsys):
    run = tmp_path / "run"
    first = make_export("aesrm-pairwise", sizes={"train": 4, "validation": 1, "test": 1})
    second = make_export("aesrm-pairwise", sizes={"train": 4, "validation": 1, "test": 1}, seed=7)
    assert main(["train", "--recipe", "checklist-linear", "--data", str(first), "--out", str(run)]) == 0
    assert main(["train", "--recipe", "checklist-linear", "--data", str(second), "--out", str(run)]) == 2
    assert "different export" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_example_configs_are_valid(path):
    config = load_config(path)
    assert config.recipe in path.stem


def test_python_dash_m_entry_point_trains(make_export, tmp_path):
    import subprocess
    import sys

    export = make_export("aesrm-pairwise", sizes={"train": 4, "validation": 1, "test": 1})
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "rm_training", "train", "--recipe", "checklist-linear", "--data", str(export),
         "--out", str(tmp_path / "run")],
        cwd=root, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["train_accuracy"]["overall"] == 1.0
