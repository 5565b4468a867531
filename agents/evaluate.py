"""`make evaluate CHECKPOINT=... [EPISODES=10] [SEED=s]`: run a trained policy on its task.

    python -m agents.evaluate CHECKPOINT [--episodes 10] [--seed 0] [--stochastic] [--latest] [--task T]

Loads the actor and the observation normalizer without Ray (agents.load), runs the deterministic policy
tanh(mu(x)) (`--stochastic`: u ~ pi(x), eq. 4) for the given episodes, each with its own env seed, prints
each episode's return, their mean and sample std, and writes evaluate.json beside the checkpoint.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import torch

from agents import cli
from algorithms.sac_svg.policy_file import Policy
from tasks import make_env
from tasks.episodes import run_episode


def evaluate(policy: Policy, task: str, episodes: int, seed: int, stochastic: bool,
             report: Callable[[int, float, int], None] = lambda *_: None) -> dict:
    """Returns and lengths of `episodes` episodes with env seeds seed, seed + 1, ...; their mean and std."""
    torch.manual_seed(seed)  # the stochastic policy's noise
    env = make_env(task)
    returns, lengths = [], []
    for i in range(episodes):
        total, steps = run_episode(lambda obs: policy.act(obs, stochastic), env, seed + i)
        returns.append(total)
        lengths.append(steps)
        report(i, total, steps)
    env.close()
    return {"returns": returns, "lengths": lengths, "mean": float(np.mean(returns)),
            "std": float(np.std(returns, ddof=1)) if episodes > 1 else None}


def evaluate_command(args) -> int:
    agent, task = cli.loaded(args)
    mode = "stochastic" if args.stochastic else "deterministic"
    print(f"{task.name}: {args.episodes} episode(s), {mode} policy, env seeds {args.seed}.."
          f"{args.seed + args.episodes - 1}", flush=True)
    result = evaluate(agent.policy, task.name, args.episodes, args.seed, args.stochastic,
                      lambda i, total, steps: print(f"episode {i + 1}: return {total:.1f} ({steps} steps)",
                                                    flush=True))
    std = "-" if result["std"] is None else f"{result['std']:.1f}"
    print(f"mean return {result['mean']:.1f}, std {std} (sample std over {args.episodes} episodes)")
    out = agent.source.parent / "evaluate.json"
    cli.write_json(out, {"checkpoint": str(agent.source), "chosen": agent.chosen, "task": task.name,
                         "policy": mode, "seed": args.seed, "episodes": args.episodes,
                         "trained_env_steps": agent.spec.get("env_steps"), **result})
    print(f"wrote {out}")
    return 0


def main(argv=None) -> int:
    return cli.run(evaluate_command, cli.parser(__doc__.split("\n\n")[0], "python -m agents.evaluate",
                                                episodes=10).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
