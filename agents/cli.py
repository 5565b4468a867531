"""What the agent commands share: their options, the policy they load and the one-line errors."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from agents.load import AgentInputError, Loaded, load
from algorithms import atomic
from sweeps.search_space import MAX_SEED
from tasks import Task, UnknownTaskError, get_task


def parser(description: str, prog: str, episodes: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("checkpoint", help="a sweep folder (its best trial), a trial folder, a checkpoint folder, "
                                      "a best_policy/ folder or a `make export` folder")
    p.add_argument("--latest", action="store_true",
                   help="the trial's latest full checkpoint instead of its best evaluation's policy")
    p.add_argument("--episodes", type=int, default=episodes, help=f"episodes to run (default {episodes})")
    p.add_argument("--seed", type=int, default=0, help="the first episode's env seed; episode i uses seed + i "
                                                        "(default 0)")
    p.add_argument("--stochastic", action="store_true",
                   help="sampled actions u ~ pi(x) instead of the deterministic tanh(mu(x))")
    p.add_argument("--task", default=None,
                   help="run on this task instead of the trial's (same observation and action sizes); a policy "
                        "of a researcher's own environment (module:...) runs only with its task named here")
    return p


def loaded(args: argparse.Namespace) -> tuple[Loaded, Task]:
    """The policy and the task to run it on, checked; prints how the policy was chosen."""
    if args.episodes < 1:
        raise AgentInputError(f"--episodes must be >= 1, got {args.episodes}")
    if not 0 <= args.seed <= MAX_SEED - args.episodes + 1:  # episode i runs with env seed seed + i
        raise AgentInputError(f"--seed {args.seed}: give a seed from 0 to {MAX_SEED - args.episodes + 1:,} "
                              "(numpy's and gymnasium's seeding take 32 bits)")
    agent = load(args.checkpoint, latest=args.latest)
    task = get_task(args.task) if args.task else agent.task
    sizes = (agent.spec["obs_dim"], agent.spec["act_dim"])
    if (task.obs_dim, task.act_dim) != sizes:
        raise AgentInputError(f"--task {task.name} has observations of {task.obs_dim} and actions of "
                              f"{task.act_dim} dimensions; the policy {sizes[0]} and {sizes[1]}")
    print(f"policy: {agent.chosen}", flush=True)
    return agent, task


def write_json(path: Path, data: dict) -> None:
    """`path`, written whole or not at all."""
    atomic.write_text(path, json.dumps(data, indent=1) + "\n")


def run(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """`command(args)`, with bad input said in one line (exit 2) instead of a traceback."""
    try:
        return command(args)
    except (AgentInputError, UnknownTaskError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
