"""`make bench`: env steps per second with full SAC-SVG(H) updates, and the time of each component update.

Runs on Walker2d-v5 for H = 0 (SAC) and H = 2, prints a table and writes JSON (bench_results/). Numbers are
this machine's, measured now. Each row is measured for the update paths in --variants (plain: PyTorch's
default per-parameter Adam; fast: the default fused path; compiled: plus torch.compile, whose compile time is
reported; graphs: CUDA graphs, on a GPU only), next to a bare-PyTorch SAC update at the same sizes measured in
the same run, so every speed claim is a ratio from one run. "products alone" is the floor under a row: the
matrix products of one env step's updates, each timed alone on random tensors of the same layouts. Beside each
row's learner rate, the whole algorithm's env steps per second (one env runner process, fragments of 10 env
steps; with --overlap also with overlap_sampling) and their ratio; and once per run, the env runner's cost per
env step against a bare env.step plus one actor forward, in this process (bench_env_runner).

With no arguments: the small size, the default and compiled paths, float32, few repeats (a few minutes on
2 cores). --full: the small and Table 3 sizes, every path the device runs, float32 and bfloat16.

  python -m benchmarks.bench [--full] [--sizes small paper] [--threads 2] [--gpus 1] [--set k=v ...]
  python -m benchmarks.bench --bf16-study [--full] [--threads 1] [--set k=v ...]   # float32 vs bfloat16
      world model, see bf16_study.py (the timing options --sizes, --dtypes, --repeats, --gpus are refused)
"""
import argparse
import collections
import copy
import functools
import json
import platform as py_platform
import statistics
import time
import typing
from datetime import UTC, datetime
from pathlib import Path

import gymnasium as gym
import numpy as np
import ray
import torch
import torch.nn.functional as F
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from algorithms.sac_svg.config import SACSVGConfig
from algorithms.sac_svg.env_runner import LeanSingleAgentEnvRunner
from algorithms.sac_svg.learner import SACSVGLearner
from algorithms.sac_svg.networks import mlp
from algorithms.sac_svg.random_policy import random_transitions
from benchmarks.configs import ENV, SIZES, config_for
from sweeps.experiment import OverrideError, parse_overrides

FRAGMENT = 10  # env steps per learner call, the default rollout_fragment_length
VARIANTS = {"plain": dict(fused_optimizer=False), "fast": {}, "compiled": dict(compile_updates=True),
            "graphs": dict(cuda_graphs=True)}  # graphs: GPU learner only
MATRIX_PRODUCTS = ("mm", "addmm", "bmm", "baddbmm")
COMPONENTS = ("transition_batch", "update_actor", "update_alpha", "update_critic", "update_reward",
              "update_termination", "update_target_critic", "dynamics_update")
QUICK = dict(sizes=["small"], variants=["fast", "compiled"], dtypes=["float32"])  # the default run
FULL = dict(sizes=list(SIZES), variants=None, dtypes=["float32", "bfloat16"])  # --full; variants None: all
STUDY_IGNORES = ("sizes", "variants", "dtypes", "horizons", "repeats", "gpus")  # the timing's options alone


def timed_ms(fn, repeats: int, device: torch.device, clock=time.perf_counter, summary=statistics.median) -> float:
    """Median (or other `summary`) time of fn() in milliseconds by `clock`: wall time, or time.process_time for
    the CPU time this process spent, which on a shared machine excludes the waits for other processes (the
    device is synchronised around each call)."""
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        _synchronize(device)
        start = clock()
        fn()
        _synchronize(device)
        samples.append(1e3 * (clock() - start))
    return summary(samples)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Layout(typing.NamedTuple):
    shape: torch.Size
    stride: tuple[int, ...]
    dtype: torch.dtype

    def random(self, device: torch.device) -> torch.Tensor:
        """Standard normal entries in this layout (an expanded dimension has stride 0)."""
        storage = 1 + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
        return torch.randn(storage, device=device).to(self.dtype).as_strided(self.shape, self.stride)


class MatrixProductLog(TorchDispatchMode):
    """Counts the matrix products run under it by operator and the layout (shape, strides, dtype) of each
    tensor argument."""

    def __init__(self):
        super().__init__()
        self.calls: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in MATRIX_PRODUCTS:
            layouts = tuple(Layout(a.shape, a.stride(), a.dtype) if isinstance(a, torch.Tensor) else a for a in args)
            self.calls[func, layouts, tuple(sorted((kwargs or {}).items()))] += 1
        return func(*args, **(kwargs or {}))


def products_ms(log: MatrixProductLog, repeats: int, device: torch.device) -> float:
    """The logged matrix products, each timed alone on random tensors of the same layouts (the fastest of `repeats`
    calls): what they cost at this machine's BLAS speed with nothing else around them, the floor under a row."""
    total = 0.0
    for (func, layouts, kwargs), count in log.calls.items():
        args = [a.random(device) if isinstance(a, Layout) else a for a in layouts]
        total += count * timed_ms(functools.partial(func, *args, **dict(kwargs)), repeats, device, summary=min)
    return total


def last_fragment(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The last FRAGMENT transitions: what an env runner delivers per request."""
    return {k: v[-FRAGMENT:] for k, v in data.items()}


def bench_learner(config: SACSVGConfig, data: dict[str, np.ndarray],
                  repeats: int) -> tuple[SACSVGLearner, dict[str, float]]:
    """The learner, filled with `data`, and the time of each component update (eager) and the CPU time of all
    updates Algorithm 1 runs per env step; with compiled updates, the time of the first two env steps (an eager
    one, which creates Adam's state, then the compile) as compile_s."""
    learner = config.build_learner(env=gym.make(ENV))
    learner.replay.add(data)  # fill D without updating
    learner.rl_module.normalizer.update(torch.as_tensor(data["obs"], device=learner._device))
    learner.env_steps = len(data["reward"])
    fragment = last_fragment(data)
    start = time.perf_counter()
    learner.update_from_transitions({k: v[:2] for k, v in fragment.items()})  # Adam's first step, then compiling
    first_call_s = time.perf_counter() - start
    with FlopCounterMode(display=False) as flops, MatrixProductLog() as products:  # all updates of one env step
        with torch.compiler.set_stance("force_eager"):
            learner.update_from_transitions({k: v[:1] for k, v in fragment.items()})
    batch, seq, horizon = learner.transition_batch(), learner.dynamics_batch(), learner.actor_horizon()
    log_prob = learner.update_actor(batch, horizon)[1]
    calls = {"transition_batch": learner.transition_batch, "update_actor": lambda: learner.update_actor(batch, horizon),
             "update_alpha": lambda: learner.update_alpha(log_prob),
             "update_critic": lambda: learner.update_critic(batch, learner.critic_horizon()),
             "update_reward": lambda: learner.update_reward(batch),
             "update_termination": lambda: learner.update_termination(batch),
             "update_target_critic": learner.update_target_critic,
             "dynamics_update": lambda: learner.dynamics_update(seq)}
    if not learner.learns_model:  # H = 0: no world-model updates to time
        for unused in ("update_reward", "update_termination", "dynamics_update"):
            calls.pop(unused)
    times = {name: timed_ms(fn, repeats, learner._device) for name, fn in calls.items()}
    times["cpu_ms_per_env_step"] = timed_ms(lambda: learner.update_from_transitions(fragment), repeats,
                                            learner._device, time.process_time) / FRAGMENT
    if config.compile_updates:
        times["compile_s"] = first_call_s
    times["gflop_per_env_step"] = flops.get_total_flops() / 1e9
    times["products_ms_per_env_step"] = products_ms(products, max(repeats, 20), learner._device)
    return learner, times


def learner_ms_per_env_step(learner: SACSVGLearner, data: dict[str, np.ndarray], env_steps: int) -> float:
    """Wall time per env step of the learner alone over `env_steps` env steps, fed in fragments as the env runner
    delivers them: the same span as a whole-algorithm timing, so that their ratio compares like with like."""
    fragment = last_fragment(data)
    calls = max(1, env_steps // FRAGMENT)
    return timed_ms(lambda: learner.update_from_transitions(fragment), calls, learner._device,
                    summary=statistics.mean) / FRAGMENT


def bare_sac_ms(config: SACSVGConfig, data: dict[str, np.ndarray], repeats: int, device: torch.device) -> float:
    """One plain SAC update (what a user writes in bare PyTorch: critic, actor and temperature steps with default
    Adam, Polyak target) at the config's sizes, on uniformly sampled batches of `data`: the reference row."""
    torch.manual_seed(0)
    obs_dim, act_dim = data["obs"].shape[1], data["action"].shape[1]
    replay = {k: torch.as_tensor(data[k], dtype=torch.float32, device=device)
              for k in ("obs", "action", "reward", "next_obs", "terminated")}
    actor = mlp(obs_dim, config.hidden_dim, 2 * act_dim, config.hidden_depth).to(device)
    critics = nn.ModuleList(mlp(obs_dim + act_dim, config.hidden_dim, 1, config.hidden_depth)
                            for _ in range(2)).to(device)
    targets = copy.deepcopy(critics)
    log_alpha = torch.zeros((), device=device, requires_grad=True)
    optimizers = [torch.optim.Adam(p, lr=1e-4) for p in (actor.parameters(), critics.parameters(), [log_alpha])]

    def policy(x):
        mu, log_std = actor(x).chunk(2, dim=-1)
        std = log_std.clamp(-5, 2).exp()
        pre_tanh = mu + std * torch.randn_like(mu)
        log_prob = torch.distributions.Normal(mu, std).log_prob(pre_tanh).sum(-1)
        return torch.tanh(pre_tanh), log_prob - (2 * (np.log(2) - pre_tanh - F.softplus(-2 * pre_tanh))).sum(-1)

    def q(nets, x, u):
        return [net(torch.cat([x, u], -1)).squeeze(-1) for net in nets]

    def update():
        index = torch.randint(len(replay["reward"]), (config.batch_size,), device=device)
        x, u, r, x_next, done = (replay[k][index] for k in ("obs", "action", "reward", "next_obs", "terminated"))
        alpha = log_alpha.exp().detach()
        with torch.no_grad():
            u_next, log_prob_next = policy(x_next)
            target = r + 0.99 * (1 - done) * (torch.min(*q(targets, x_next, u_next)) - alpha * log_prob_next)
        critic_loss = sum(F.mse_loss(q_i, target) for q_i in q(critics, x, u))
        u_new, log_prob = policy(x)
        actor_loss = (alpha * log_prob - torch.min(*q(critics, x, u_new))).mean()
        alpha_loss = (log_alpha.exp() * (-log_prob.detach() + act_dim)).mean()
        for optimizer, loss in zip(optimizers, (critic_loss, actor_loss, alpha_loss)):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            for target_p, p in zip(targets.parameters(), critics.parameters()):
                target_p.lerp_(p, 0.005)

    return timed_ms(update, repeats, device, time.process_time)


def bench_end_to_end(config: SACSVGConfig, env_steps: int, overlap: bool = False) -> dict[str, float]:
    """Env steps per second of the whole algorithm (1 env runner process): one iteration of random steps to fill
    the replay, one untimed iteration with every update (it compiles, with compile_updates), then one timed
    iteration of `env_steps` steps. Then, on the same algorithm, the parts outside the env runner's loop: a Ray
    round trip to the env runner and one weight sync (the learner's acting state read and loaded on the runner
    with the round trip), each the median of 20. With overlap, the learner takes the threads a trial gives it
    (config.learner_cpu_threads: the main process's CPU, the env runner sampling on its own)."""
    threads = None if overlap else config.learner_threads
    algo = (config.copy(copy_frozen=False).env_runners(num_env_runners=1, rollout_fragment_length=FRAGMENT)
            .training(num_random_steps=env_steps, report_interval_steps=env_steps, eval_interval_steps=10**9,
                      overlap_sampling=overlap, learner_threads=threads)
            .build_algo())
    algo.train()  # the random phase, no updates
    algo.train()  # the first updates: compilation, warm caches
    start = algo.env_steps()
    begin = time.perf_counter()
    algo.train()
    rate = (algo.env_steps() - start) / (time.perf_counter() - begin)
    group = algo.env_runner_group
    round_trip = timed_ms(lambda: group.foreach_env_runner(lambda runner: None, local_env_runner=False), 20,
                          torch.device("cpu"))

    def sync():
        results = algo.learner_group.foreach_learner(lambda learner: learner.rl_module.acting_state())
        state = next(iter(results)).get()
        group.foreach_env_runner(lambda runner: runner.module.load_acting_state(state), local_env_runner=False)

    weight_sync = timed_ms(sync, 20, torch.device("cpu")) - round_trip
    algo.stop()
    return {"env_steps_per_s": rate, "ray_round_trip_ms": round_trip, "weight_sync_ms": weight_sync}


def bench_env_runner(config: SACSVGConfig, repeats: int) -> dict[str, float]:
    """ms per env step, in this process, of: a bare env.step plus one actor forward (the floor); the lean env
    runner's sample of one fragment; RLlib's SingleAgentEnvRunner's. Measured interleaved, `repeats` rounds of
    each, medians: the ratios hold on a shared machine even where the absolute times move."""
    config = config.copy(copy_frozen=False).env_runners(num_env_runners=0)
    runners = {name: cls(config=config) for name, cls in (("lean", LeanSingleAgentEnvRunner),
                                                            ("rllib", SingleAgentEnvRunner))}
    env, module = gym.make(ENV), runners["lean"].module
    obs = env.reset(seed=0)[0]

    def bare_fragment():
        nonlocal obs
        for _ in range(FRAGMENT):
            with torch.no_grad():
                action = module.actor.sample(module.normalizer(torch.as_tensor(obs, dtype=torch.float32)[None]))[0]
            obs, _, terminated, truncated, _ = env.step(action[0].numpy())
            if terminated or truncated:
                obs = env.reset()[0]

    calls = {"bare": bare_fragment} | {name: functools.partial(runner.sample, num_timesteps=FRAGMENT)
                                       for name, runner in runners.items()}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            samples[name].append(timed_ms(fn, 1, torch.device("cpu")) / FRAGMENT)
    for runner in runners.values():
        runner.stop()
    return {f"{name}_ms_per_env_step": statistics.median(times) for name, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true",
                        help="every size, path and dtype, more repeats, end-to-end runs (the default: a quick run)")
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=2,
                        help="learner torch threads (in a trial: the CPUs Ray reserves for it; 2 here)")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES))
    parser.add_argument("--horizons", nargs="+", type=int, default=[0, 2])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        help="update paths to time (same mathematics): plain, fast (default path), compiled, "
                             "graphs (CUDA graphs); default: all that the device runs")
    parser.add_argument("--repeats", type=int, help="timed calls per measurement (default 2, --full 5)")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs for the learner (0: CPU)")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config fields for every row, typed like `make sweep`'s --set, "
                             "e.g. --set decoder_depth=0 (the official decoder)")
    parser.add_argument("--bf16-study", action="store_true",
                        help="instead of timing: float32 vs bfloat16 world model (model error, SVG gradient)")
    parser.add_argument("--overlap", action="store_true",
                        help="also time the whole algorithm with overlap_sampling (env runner steps during updates)")
    parser.add_argument("--end-to-end-steps", type=int,
                        help="env steps of each whole-algorithm timing (default: 1000 small, 32 paper)")
    parser.add_argument("--out", default="bench_results")
    args = parser.parse_args()
    if args.bf16_study:
        ignored = [f"--{name}" for name in STUDY_IGNORES if getattr(args, name) != parser.get_default(name)]
        if ignored:
            parser.error(f"{' '.join(ignored)}: the bfloat16 study takes --full, --threads, --set and --out only")
    for name, value in (FULL if args.full else QUICK).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    try:
        overrides = parse_overrides(args.set)
    except OverrideError as error:
        parser.error(str(error))
    if args.gpus and not torch.cuda.is_available():
        parser.error(f"--gpus {args.gpus}: no CUDA device is visible to torch {torch.__version__}")
    if "graphs" in (args.variants or []) and not args.gpus:
        parser.error("--variants graphs: CUDA graphs need the learner on a GPU (--gpus 1)")
    variants = args.variants or [v for v in VARIANTS if args.gpus or v != "graphs"]
    if args.bf16_study:
        from benchmarks import bf16_study
        return bf16_study.main(not args.full, args.threads, overrides, Path(args.out))
    repeats = args.repeats or (5 if args.full else 2)
    data = random_transitions(4096, ENV)
    rows = []
    ray.init(num_cpus=2, num_gpus=args.gpus, include_dashboard=False, configure_logging=False, log_to_driver=False)
    for size in args.sizes:
        for horizon in args.horizons:
            for dtype in args.dtypes if size == "paper" else ["float32"]:
                for variant in variants:
                    config = config_for(size, horizon, dtype, args.threads, overrides | VARIANTS[variant], args.gpus)
                    config.validate()
                    learner, components = bench_learner(config, data, repeats)
                    row = {"size": size, "horizon": horizon, "dtype": dtype, "variant": variant,
                           "components_ms": components}
                    row["compile_s"] = row["components_ms"].pop("compile_s", None)
                    row["gflop_per_env_step"] = row["components_ms"].pop("gflop_per_env_step")
                    row["products_ms_per_env_step"] = row["components_ms"].pop("products_ms_per_env_step")
                    row["cpu_ms_per_env_step"] = row["components_ms"].pop("cpu_ms_per_env_step")
                    steps = args.end_to_end_steps or (32 if size == "paper" else 1000)
                    # The learner alone, timed before and after the whole algorithm: a drift of the machine's
                    # speed during the row shows on both sides of their ratio.
                    before = learner_ms_per_env_step(learner, data, steps)
                    row["whole"] = bench_end_to_end(config, steps)
                    if args.overlap:
                        row["whole_overlap"] = bench_end_to_end(config, steps, overlap=True)
                    row["learner_ms_per_env_step"] = (before + learner_ms_per_env_step(learner, data, steps)) / 2
                    del learner
                    rows.append(row)
                    print(f"  measured {size} H={horizon} {dtype} {variant}: "
                          f"{row['learner_ms_per_env_step']:.1f} ms per env step", flush=True)
    device = torch.device("cuda" if args.gpus else "cpu")
    torch.set_num_threads(args.threads)
    reference = {size: bare_sac_ms(config_for(size, 0, "float32", args.threads, overrides), data, repeats, device)
                 for size in args.sizes}
    ray.shutdown()
    runner = bench_env_runner(config_for(args.sizes[0], 0, "float32", args.threads, overrides), max(repeats, 20))
    report = {"created": datetime.now(UTC).isoformat(), "env": ENV, "torch": torch.__version__,
              "threads": args.threads, "gpus": args.gpus, "overrides": overrides,
              "machine": py_platform.processor() or py_platform.machine(),
              "cpu": cpu_description(), "bare_pytorch_sac_cpu_ms_per_update": reference, "env_runner": runner,
              "rows": rows}
    print(format_table(report))
    write(report, Path(args.out))


def format_table(report: dict) -> str:
    head = (["size", "H", "dtype", "path", "ms/env step", "CPU ms/env step", "learner env steps/s",
             "whole env steps/s", "whole/learner", "overlap env steps/s", "overlap/learner", "compile s",
             "GFLOP/step", "GFLOP/s", "products alone ms"] + list(COMPONENTS))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report["rows"]:
        c = r["components_ms"]
        learner = 1e3 / r["learner_ms_per_env_step"]
        cells = [r["size"], str(r["horizon"]), r["dtype"], r["variant"], f"{r['learner_ms_per_env_step']:.2f}",
                 f"{r['cpu_ms_per_env_step']:.2f}", f"{learner:.1f}"]
        for whole in (r.get("whole"), r.get("whole_overlap")):
            cells += ([f"{whole['env_steps_per_s']:.1f}", f"{whole['env_steps_per_s'] / learner:.2f}"] if whole
                      else ["-", "-"])
        cells += ["-" if r.get("compile_s") is None else f"{r['compile_s']:.0f}", f"{r['gflop_per_env_step']:.3f}",
                  f"{r['gflop_per_env_step'] / r['learner_ms_per_env_step'] * 1e3:.1f}",
                  f"{r['products_ms_per_env_step']:.2f}"]
        cells += [f"{c[k]:.1f}" if k in c else "-" for k in COMPONENTS]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"machine: {report['cpu']}; torch {report['torch']}; threads: {report['threads']}, "
                 f"gpus: {report['gpus']}, overrides: {report['overrides'] or 'none'}")
    lines += [f"bare-PyTorch SAC update (same run, H=0 sizes of '{size}'): {ms:.2f} CPU ms; svglab H=0 per env step "
              "(1 update), CPU time ratio: " + ", ".join(f"{r['variant']} {r['cpu_ms_per_env_step'] / ms:.2f}x"
                                         for r in report["rows"] if r["size"] == size and r["horizon"] == 0
                                         and r["dtype"] == "float32")
              for size, ms in report["bare_pytorch_sac_cpu_ms_per_update"].items()]
    lines.append(format_breakdown(report))
    return "\n".join(lines)


def format_breakdown(report: dict) -> str:
    """Where an env step goes outside the learner: the env, the env runner's loop around it, the Ray round trip
    and the weight sync of each fragment (per env step: divided by the fragment's env steps)."""
    runner = report["env_runner"]
    lines = [f"env runner, ms per env step (in process, interleaved medians): bare env.step + actor forward "
             f"{runner['bare_ms_per_env_step']:.3f}; lean env runner {runner['lean_ms_per_env_step']:.3f} "
             f"({runner['lean_ms_per_env_step'] / runner['bare_ms_per_env_step']:.2f}x); RLlib's "
             f"SingleAgentEnvRunner {runner['rllib_ms_per_env_step']:.3f} "
             f"({runner['rllib_ms_per_env_step'] / runner['bare_ms_per_env_step']:.2f}x)"]
    for r in report["rows"]:
        w = r["whole"]
        lines.append(f"{r['size']} H={r['horizon']} {r['variant']}: per env step, Ray round trip "
                     f"{w['ray_round_trip_ms'] / FRAGMENT:.3f} ms, weight sync {w['weight_sync_ms'] / FRAGMENT:.3f} ms")
    return "\n".join(lines)


def cpu_description() -> str:
    """The CPU's model name and its vector-instruction flags that matter for matrix products (Linux)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return py_platform.processor() or py_platform.machine()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    flags = [f for f in wanted if f in fields.get("flags", "").split()]
    return f"{fields.get('model name', py_platform.machine())} (flags: {' '.join(flags) or 'none of avx2/avx512'})"


def write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for path in (out / f"bench-{stamp}.json", out / "latest.json"):
        path.write_text(json.dumps(report, indent=2))
    (out / "latest.md").write_text(format_table(report) + "\n")
    print(f"\nwrote {out / f'bench-{stamp}.json'} and {out / 'latest.md'}")


if __name__ == "__main__":
    main()
