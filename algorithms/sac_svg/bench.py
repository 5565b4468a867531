"""`make bench`: env steps per second with full SAC-SVG(H) updates, and the time of each component update.

Runs on Walker2d-v5 (the notes' reference task) at the paper's Table 3 sizes and at a small size, for H = 0
(SAC) and H = 2, prints a table and writes JSON (bench_results/). Numbers are this machine's, measured now.

  python -m algorithms.sac_svg.bench [--quick] [--dtypes float32 bfloat16] [--threads 2] [--set k=v ...]
"""
import argparse
import json
import platform as py_platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import gymnasium as gym
import numpy as np
import ray
import torch
import yaml

from algorithms.sac_svg.config import SACSVGConfig

ENV = "Walker2d-v5"
SIZES = {
    "paper": {},  # Table 3
    "small": dict(hidden_dim=64, model_hidden_dim=64, gru_hidden_dim=64, batch_size=128, seq_batch_size=128),
}
# Measured once on the 2-core development machine (the official code run outside this repository).
REFERENCE_MS_PER_ENV_STEP = {"official SAC-SVG(2), Table 3 sizes": 1400.0, "official SAC (H=0)": 65.0,
                             "RLlib SAC (one update)": 121.0}
FRAGMENT = 10  # env steps per learner call, the default rollout_fragment_length
COMPONENTS = ("step_batch", "update_actor", "update_alpha", "update_critic", "update_reward", "update_termination",
              "update_target_critic", "dynamics_update")


def config_for(size: str, horizon: int, dtype: str, threads: int, overrides: dict) -> SACSVGConfig:
    return (SACSVGConfig().environment(ENV)
            .training(horizon=horizon, world_model_dtype=dtype, actor_warmup_steps=0, learner_threads=threads,
                      **(SIZES[size] | overrides))
            .debugging(seed=0))


def random_transitions(n: int, env_id: str = ENV) -> dict[str, np.ndarray]:
    """n uniformly random transitions of env_id, episodes numbered so sequences can be sampled."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    rows, episode, t = [], 0, 0
    for _ in range(n):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rows.append((obs, action, reward, next_obs, float(terminated), episode, t))
        obs, t = next_obs, t + 1
        if terminated or truncated:
            (obs, _), episode, t = env.reset(), episode + 1, 0
    keys = ("obs", "action", "reward", "next_obs", "terminated", "episode", "t")
    return {k: np.asarray(v) for k, v in zip(keys, zip(*rows))}


def timed_ms(fn, repeats: int, device: torch.device) -> float:
    """Median wall time of fn() in milliseconds (the device is synchronised around each call)."""
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        samples.append(1e3 * (time.perf_counter() - start))
    return statistics.median(samples)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_learner(config: SACSVGConfig, data: dict[str, np.ndarray], repeats: int) -> dict[str, float]:
    """Time of each component update and of all updates Algorithm 1 runs per env step."""
    learner = config.build_learner(env=gym.make(ENV))
    learner.replay.add(data)  # fill D without updating
    learner.svg.normalizer.update(torch.as_tensor(data["obs"], device=learner._device))
    learner.env_steps = len(data["reward"])
    batch = learner.step_batch()
    log_prob = learner.update_actor(batch)[1]
    calls = {"step_batch": learner.step_batch, "update_actor": lambda: learner.update_actor(batch),
             "update_alpha": lambda: learner.update_alpha(log_prob),
             "update_critic": lambda: learner.update_critic(batch),
             "update_reward": lambda: learner.update_reward(batch),
             "update_termination": lambda: learner.update_termination(batch),
             "update_target_critic": learner.update_target_critic, "dynamics_update": learner.dynamics_update}
    if config.horizon == 0:
        for unused in ("update_reward", "update_termination", "dynamics_update"):
            calls.pop(unused)
    times = {name: timed_ms(fn, repeats, learner._device) for name, fn in calls.items()}
    fragment = {k: v[-FRAGMENT:] for k, v in data.items()}  # what an env runner delivers per sync
    times["all_updates_per_env_step"] = timed_ms(lambda: learner.update_from_transitions(fragment), repeats,
                                                 learner._device) / FRAGMENT
    return times


def bench_end_to_end(config: SACSVGConfig, env_steps: int) -> float:
    """Env steps per second of the real algorithm (1 env runner): one iteration of random steps to fill the
    replay, then one timed iteration of `env_steps` steps with every update."""
    algo = (config.copy(copy_frozen=False).env_runners(num_env_runners=1, rollout_fragment_length=FRAGMENT)
            .training(num_random_steps=env_steps, report_interval_steps=env_steps, eval_interval_steps=10**9)
            .build_algo())
    algo.train()  # the random phase, no updates
    start = algo.env_steps()
    begin = time.perf_counter()
    algo.train()
    rate = (algo.env_steps() - start) / (time.perf_counter() - begin)
    algo.stop()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no end-to-end runs")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=2,
                        help="learner torch threads (in a trial: the CPUs Ray reserves for it; 2 here)")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--horizons", nargs="+", type=int, default=[0, 2])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config fields for every row, e.g. --set decoder_depth=0 (the official decoder)")
    parser.add_argument("--out", default="bench_results")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.set)}
    repeats = 2 if args.quick else 5
    data = random_transitions(4096)
    rows = []
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    for size in args.sizes:
        for horizon in args.horizons:
            for dtype in args.dtypes if size == "paper" else ["float32"]:
                config = config_for(size, horizon, dtype, args.threads, overrides)
                config.validate()
                row = {"size": size, "horizon": horizon, "dtype": dtype,
                       "components_ms": bench_learner(config, data, repeats)}
                row["learner_ms_per_env_step"] = row["components_ms"].pop("all_updates_per_env_step")
                if not args.quick:
                    steps = 32 if size == "paper" else 256
                    row["end_to_end_env_steps_per_s"] = bench_end_to_end(config, steps)
                rows.append(row)
                print(f"  measured {size} H={horizon} {dtype}: {row['learner_ms_per_env_step']:.1f} ms per env step",
                      flush=True)
    ray.shutdown()
    report = {"created": datetime.now(UTC).isoformat(), "env": ENV, "torch": torch.__version__,
              "threads": args.threads, "overrides": overrides,
              "machine": py_platform.processor() or py_platform.machine(),
              "reference_ms_per_env_step": REFERENCE_MS_PER_ENV_STEP, "rows": rows}
    print(format_table(report))
    write(report, Path(args.out))


def format_table(report: dict) -> str:
    head = ["size", "H", "dtype", "ms/env step", "env steps/s", "e2e steps/s"] + list(COMPONENTS)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report["rows"]:
        c = r["components_ms"]
        e2e = r.get("end_to_end_env_steps_per_s")
        cells = [r["size"], str(r["horizon"]), r["dtype"], f"{r['learner_ms_per_env_step']:.1f}",
                 f"{1e3 / r['learner_ms_per_env_step']:.1f}", "-" if e2e is None else f"{e2e:.1f}"]
        cells += [f"{c[k]:.1f}" if k in c else "-" for k in COMPONENTS]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"threads: {report['threads']}, overrides: {report['overrides'] or 'none'}")
    lines += [f"reference (notes, same machine): {name}: {ms:.0f} ms per env step"
              for name, ms in report["reference_ms_per_env_step"].items()]
    return "\n".join(lines)


def write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for path in (out / f"bench-{stamp}.json", out / "latest.json"):
        path.write_text(json.dumps(report, indent=2))
    (out / "latest.md").write_text(format_table(report) + "\n")
    print(f"\nwrote {out / f'bench-{stamp}.json'} and {out / 'latest.md'}")


if __name__ == "__main__":
    main()
