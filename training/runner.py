"""Runs rm_training in a subprocess, so a crash or an OOM kill cannot take the gpu worker down.

The subprocess leads its own process group (``start_new_session=True``): cancel signals the whole group
(``accelerate launch`` children included), SIGTERM first and SIGKILL after a grace period. On Linux the child
also asks to be SIGKILLed when the worker dies, so a lost worker leaves no orphan run holding a GPU.
Nothing here touches the database: the caller's ``on_tick`` writes heartbeats and says when to stop.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
TAIL_LINES = 40


@dataclass(frozen=True)
class ProcessOutcome:
    returncode: int
    stopped: bool  # on_tick asked to stop (cancel, or the job is no longer ours)

    @property
    def reason(self) -> str:
        if self.returncode >= 0:
            return f"rm_training exited with status {self.returncode}"
        name = signal.Signals(-self.returncode).name
        hint = " (out of memory?)" if self.returncode == -signal.SIGKILL else ""
        return f"the training process was killed by {name}{hint}"


@dataclass(frozen=True)
class Progress:
    step: int = 0
    loss: float | None = None
    samples_per_second: float | None = None
    steps_per_second: float | None = None

    def eta_seconds(self, total_steps: int) -> float | None:
        if not total_steps or not self.steps_per_second:
            return None
        return max(0, total_steps - self.step) / self.steps_per_second


def rm_training_command(*, arguments: list[str], num_processes: int = 1) -> list[str]:
    """``python -m rm_training ...``, or ``accelerate launch --num_processes N -m rm_training ...`` for N > 1."""
    if num_processes > 1:
        accelerate = Path(sys.executable).with_name("accelerate")
        launcher = str(accelerate) if accelerate.exists() else "accelerate"
        return [launcher, "launch", "--num_processes", str(num_processes), "-m", "rm_training", *arguments]
    return [sys.executable, "-m", "rm_training", *arguments]


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the heartbeat check still marks the job failed
        pass


def process_group_stop(*, pid: int, grace_seconds: float) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after the grace period."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_process(
    *,
    command: list[str],
    log_path: Path,
    on_start: Callable[[int], None],
    on_tick: Callable[[], bool],
    tick_seconds: float = 1.0,
    grace_seconds: float = 10.0,
) -> ProcessOutcome:
    """Run ``command`` with its output appended to ``log_path``; ``on_tick`` returns True to stop it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    on_start(process.pid)
    stopped = False
    while True:
        try:
            returncode = process.wait(timeout=tick_seconds)
            break
        except subprocess.TimeoutExpired:
            pass
        if not stopped and on_tick():
            stopped = True
            process_group_stop(pid=process.pid, grace_seconds=grace_seconds)
    return ProcessOutcome(returncode=returncode, stopped=stopped)


def log_tail(*, log_path: Path, lines: int = TAIL_LINES) -> str:
    if not log_path.is_file():
        return ""
    with log_path.open("rb") as handle:
        handle.seek(max(0, log_path.stat().st_size - 64 * 1024))
        text = handle.read().decode(errors="replace")
    # tqdm redraws its bar with carriage returns; keep the last state of each line
    cleaned = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join([line for line in cleaned if line.strip()][-lines:])


def read_metrics_lines(*, run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # the line being written right now
            continue
    return records


def latest_progress(*, run_dir: Path) -> Progress:
    records = read_metrics_lines(run_dir=run_dir)
    if not records:
        return Progress()
    last = records[-1]
    return Progress(
        step=int(last.get("step", 0)),
        loss=last.get("loss"),
        samples_per_second=last.get("samples_per_second"),
        steps_per_second=last.get("steps_per_second"),
    )
