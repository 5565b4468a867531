"""`make soak`: a long run stays flat. One trial at tiny sizes trains for --steps env steps (default 100k)
through the whole sweep machinery (Tune, checkpoints, progress files) with a replay much smaller than the run,
so it wraps, and a checkpoint every iteration; this process samples, every --every-s seconds, the resident
memory of the trial's learner (the trial's main process: SAC-SVG's one local learner) and of its env runner,
and the trial folder's size and checkpoints.

It fails (exit 1) when, after the replay is full, resident memory grows by 5% or more (median of the first
five samples after the fill against the median of the last five), or when the trial folder ever holds more
than the budget's keep_checkpoints checkpoints. The samples land in <results>/soak.csv.

    python -m sweeps.soak [--steps 100000] [--replay 20000] [--results results/soak] [--every-s 10]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from algorithms.sac_svg.env_runner import LeanSingleAgentEnvRunner
from sweeps.budgets import SMOKE
from sweeps.layout import PARAMS_FILE, RESULT_FILE, TRAIN, experiment_dirname

TASK = "Hopper"
MAX_GROWTH = 0.05
WINDOW = 5  # samples in each median
TINY = {"hidden_dim": 32, "model_hidden_dim": 32, "gru_hidden_dim": 32, "report_interval_steps": 1000}
COLUMNS = ("seconds", "env_steps", "learner_rss_mb", "env_runner_rss_mb", "trial_folder_mb", "checkpoints")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sweeps.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="env steps of the trial (default 100000)")
    parser.add_argument("--replay", type=int, default=20_000, help="replay_capacity (default 20000)")
    parser.add_argument("--results", default="results/soak", help="results folder (default results/soak)")
    parser.add_argument("--every-s", type=float, default=10.0, help="seconds between samples (default 10)")
    return parser.parse_args(argv)


def sweep_command(args: argparse.Namespace) -> list[str]:
    overrides = {**TINY, "total_env_steps": args.steps, "eval_interval_steps": args.steps // 4,
                 "replay_capacity": args.replay}
    return [sys.executable, "-m", "sweeps.sweep", "--mode", "train", "--task", TASK, "--budget", SMOKE.name,
            "--results", args.results, "--no-dashboard",
            *[item for key, value in overrides.items() for item in ("--set", f"{key}={value}")]]


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def rss_mb(driver: int, title: str) -> float | None:
    """Resident memory (MB) of the driver's Ray processes titled `title` (ray::SACSVG, the env runners)."""
    total, found = 0, False
    for pid in descendants(driver):
        proc = Path("/proc", str(pid))
        try:
            if not (proc / "cmdline").read_bytes().startswith(title.encode()):
                continue
            rss = next(line for line in (proc / "status").read_text().splitlines() if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
        total, found = total + int(rss.split()[1]) * 1024, True
    return total / 2**20 if found else None


def trial_folder(results: Path) -> Path | None:
    trials = sorted(results.glob(f"{experiment_dirname(TASK, TRAIN, SMOKE.name)}/*/{PARAMS_FILE}"))
    return trials[0].parent if trials else None


def env_steps(trial: Path) -> int:
    """The trial's last reported env steps (result.json in the results folder)."""
    try:
        lines = (trial / RESULT_FILE).read_text().splitlines()
        return int(json.loads(lines[-1])["env_steps"]) if lines else 0
    except (OSError, ValueError, KeyError):
        return 0


def sample(driver: int, results: Path, started: float) -> dict | None:
    trial = trial_folder(results)
    learner, runner = rss_mb(driver, "ray::SACSVG"), rss_mb(driver, f"ray::{LeanSingleAgentEnvRunner.__name__}")
    if trial is None or learner is None or runner is None:
        return None
    files = [p for p in trial.rglob("*") if p.is_file()]
    return {"seconds": round(time.monotonic() - started), "env_steps": env_steps(trial),
            "learner_rss_mb": round(learner, 1), "env_runner_rss_mb": round(runner, 1),
            "trial_folder_mb": round(sum(p.stat().st_size for p in files) / 2**20, 2),
            "checkpoints": len(list(trial.glob("checkpoint_*")))}


def growth(samples: list[dict], column: str, replay: int) -> tuple[float, float, float]:
    """(median of the first WINDOW samples after the replay filled, median of the last WINDOW, growth)."""
    full = [s[column] for s in samples if s["env_steps"] >= replay]
    if len(full) < 2 * WINDOW:
        raise SystemExit(f"soak: only {len(full)} samples after the replay filled; run longer (--steps) or sample "
                         "more often (--every-s)")
    first, last = statistics.median(full[:WINDOW]), statistics.median(full[-WINDOW:])
    return first, last, last / first - 1


def main(argv=None) -> int:
    args = parse_args(argv)
    results = Path(args.results).resolve()
    results.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "disabled")}
    process = subprocess.Popen(sweep_command(args), env=env)
    driver, samples = process.pid, []
    with open(results / "soak.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        while process.poll() is None:
            time.sleep(args.every_s)
            row = sample(driver, results, started)
            if row:
                samples.append(row)
                writer.writerow(row)
                file.flush()
    if process.returncode != 0:
        print(f"soak: the run failed (exit {process.returncode})", file=sys.stderr)
        return 1
    return report(samples, args, time.monotonic() - started)


def report(samples: list[dict], args: argparse.Namespace, seconds: float) -> int:
    failures = []
    print(f"soak: {args.steps:,} env steps, replay_capacity {args.replay:,}, {len(samples)} samples, "
          f"{seconds / 60:.1f} min")
    for column in ("learner_rss_mb", "env_runner_rss_mb"):
        first, last, grew = growth(samples, column, args.replay)
        print(f"soak: {column}: {first:.1f} MB after the replay filled, {last:.1f} MB at the end "
              f"({100 * grew:+.1f}%)")
        if grew >= MAX_GROWTH:
            failures.append(f"{column} grew {100 * grew:.1f}% (limit {100 * MAX_GROWTH:.0f}%)")
    most = max(s["checkpoints"] for s in samples)
    sizes = [s["trial_folder_mb"] for s in samples if s["env_steps"] >= args.replay]
    print(f"soak: trial folder {min(sizes):.2f}-{max(sizes):.2f} MB after the replay filled; at most {most} "
          f"checkpoint(s) (keep_checkpoints {SMOKE.keep_checkpoints})")
    if most > SMOKE.keep_checkpoints:
        failures.append(f"{most} checkpoints in the trial folder, keep_checkpoints is {SMOKE.keep_checkpoints}")
    for failure in failures:
        print(f"soak: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
