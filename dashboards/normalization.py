"""Scores normalized per task: the random policy = 0, the paper's SAC-SVG(H) value = 1.

``python -m dashboards.normalization [--episodes 10] [--seed 0]`` measures each registered task's
random-policy return (uniform actions in [-1, 1], the task's 1,000-step limit) and prints it as the
:data:`RANDOM_RETURNS` entries below.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from dashboards import paper_numbers
from dashboards.intervals import MIN_TRIALS, runs_matrix

# Mean undiscounted return of a uniform random policy over 10 episodes, seeds 0..9 (env reset seed and
# action-space seed), measured with `python -m dashboards.normalization --episodes 10 --seed 0`.
RANDOM_RETURNS: dict[str, float] = {
    "Hopper": 17.00,
    "Walker2d": 4.32,
    "HalfCheetah": -298.11,
    "Ant": -96.10,
    "Humanoid": 117.84,
    "poplin-ant": 479.05,
    "poplin-hopper": -2315.74,
    "poplin-swimmer": -11.51,
    "poplin-cheetah": -299.67,
    "poplin-walker2d": -2457.79,
    "poplin-pets-cheetah": -248.09,
}


def random_return(task: str, episodes: int, seed: int) -> float:
    """The mean return of uniform random actions over ``episodes`` episodes, episode i seeded ``seed + i``."""
    from tasks import make_env

    env = make_env(task)
    returns = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        env.action_space.seed(seed + episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def paper_value(suite: str, names: tuple[str, ...]) -> float:
    """The authors' SAC-SVG(H) number for the task (the paper's Table 2, or the official code's last evaluation
    for MBPO tasks); NaN when there is none."""
    ref = paper_numbers.references(suite, names, horizon_zero=False)["paper"]
    return math.nan if ref is None else ref.mean


def normalize(scores, task: str, suite: str, paper_name: str):
    """``(score - random) / (paper - random)``: 0 = the random policy, 1 = the paper's SAC-SVG(H); NaN where
    either end is unknown."""
    low = RANDOM_RETURNS.get(task, math.nan)
    high = paper_value(suite, (paper_name, task))
    return (np.asarray(scores, dtype=float) - low) / (high - low)


def unscaled_tasks(results) -> list[str]:
    """The tasks of ``results`` with no normalized scale (no random or no paper score: any task outside the
    registry), which the normalized plots leave out."""
    rows = results.experiments.drop_duplicates("task")
    return sorted(row.task for row in rows.itertuples()
                  if np.isnan(normalize([0.0], row.task, row.suite, row.paper_name)[0]))


def note(random: float, paper: float) -> str:
    """What 0 and 1 are on the task's normalized scale; empty when either is unknown."""
    if math.isnan(random) or math.isnan(paper):
        return ""
    return f"normalized: random policy {random:.1f} = 0, paper's SAC-SVG(H) {paper:.1f} = 1"


def normalized_scores(results) -> tuple[dict[str, np.ndarray], list[str]]:
    """The Table 2 methods' normalized trial scores as rliable's (runs, tasks) matrices over the tasks where every
    method has at least ``MIN_TRIALS`` of them (rliable needs the same trials per task: each method keeps its
    first k per task, k its fewest), and those tasks; empty below two such tasks."""
    from dashboards.select import method_name, table2_cells, tasks

    by_method: dict[str, dict[str, np.ndarray]] = {}
    for task in tasks(results):
        exp, by_h, _ = table2_cells(results, task)
        for horizon, trials in by_h.items():
            values = normalize(trials["score"].dropna(), exp["task"], exp["suite"], exp["paper_name"])
            values = values[~np.isnan(values)]
            if len(values) >= MIN_TRIALS:
                by_method.setdefault(method_name(horizon), {})[task] = values
    common = sorted(set.intersection(*map(set, by_method.values()))) if by_method else []
    if len(common) < 2:
        return {}, []
    return {method: runs_matrix([per_task[task] for task in common]) for method, per_task in by_method.items()}, common


def main(argv: list[str] | None = None) -> int:
    from tasks import TASKS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10, help="episodes per task (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    parser.add_argument("--task", action="append", default=None, help="task(s) to measure (default: all)")
    args = parser.parse_args(argv)
    for task in args.task or TASKS:
        print(f'    "{task}": {random_return(task, args.episodes, args.seed):.2f},', flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

