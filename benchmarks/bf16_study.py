"""`make bench ARGS=--bf16-study`: does a bfloat16 world model learn and differentiate like a float32 one?

1. Offline model training: a fixed replay of real Walker2d-v5 transitions (generated once, seeded), the world
   model trained on it in float32 and in bfloat16 from the same initialization with the same batches; the
   multi-step model error (per unroll step, on held-out sequences, always evaluated in float32 arithmetic's
   reference: the model's own dtype) is compared over training.
2. The actor's SVG gradient: along a float32 learner run on that replay, every few updates the actor
   gradient of eq. 10 is computed through the float32 model and through the same model with bfloat16 matrix
   products (same weights, batch and noise); their cosine similarity is recorded.

Verdict rule (docs/performance.md): bfloat16 agrees when its final model error is within 5% of float32's at
every unroll step and the actor gradient's cosine similarity has median >= 0.99 and minimum >= 0.95.
"""
import copy
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from algorithms.sac_svg import losses
from algorithms.sac_svg.random_policy import random_transitions
from algorithms.sac_svg.replay import TransitionReplay
from benchmarks.configs import ENV, config_for
from sweeps.budgets import SMALL_NETWORKS

ERROR_MARGIN, COSINE_MEDIAN, COSINE_MIN = 0.05, 0.99, 0.95
EVAL_LENGTH = 6  # states per held-out sequence: 5 model steps, beyond the H + 1 = 3 trained on


def main(quick: bool, threads: int, overrides: dict, out: Path) -> None:
    torch.set_num_threads(threads)
    sizes = SMALL_NETWORKS if quick else {}
    config = config_for("paper", 2, "float32", threads, dict(seq_batch_size=256, batch_size=256) | sizes | overrides)
    steps, every = (150, 25) if quick else (600, 50)
    data = random_transitions(8192, ENV)
    learner = config.build_learner(env=gym.make(ENV))
    learner.replay.add(data)
    learner.rl_module.normalizer.update(torch.as_tensor(data["obs"]))
    learner.env_steps = len(data["reward"])
    model_error = offline_model_errors(learner, data, steps, every)
    cosines = actor_gradient_cosines(learner, steps, every)
    report = {"config": {k: getattr(config, k) for k in ("hidden_dim", "model_hidden_dim", "gru_hidden_dim",
                                                         "seq_batch_size", "batch_size", "horizon")},
              "threads": threads, "updates": steps, "model_error": model_error, "actor_gradient_cosine": cosines}
    report["verdict"] = verdict(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bf16_study.json").write_text(json.dumps(report, indent=2))
    print(summary(report))
    print(f"wrote {out / 'bf16_study.json'}")


def offline_model_errors(learner, data, steps: int, every: int) -> dict[str, list]:
    """Per-unroll-step error of float32 and bfloat16 world models trained on the same batches."""
    c, m = learner.config, learner.rl_module
    held_out = TransitionReplay(len(data["reward"]), data["obs"].shape[1], data["action"].shape[1], "cpu", seed=1)
    held_out.add(data)
    eval_seq = held_out.sample_sequences(1024, EVAL_LENGTH)
    curves = {}
    for dtype in ("float32", "bfloat16"):
        model = copy.deepcopy(m.world_model.dynamics)  # the same initialization for both
        model.matmul_dtype = dtype
        optimizer = torch.optim.Adam(model.parameters(), lr=c.model_lr)
        replay = TransitionReplay(len(data["reward"]), data["obs"].shape[1], data["action"].shape[1], "cpu", seed=0)
        replay.add(data)  # the same batches for both
        curve = []
        for step in range(steps + 1):
            if step % every == 0:
                curve.append([step] + unroll_error(model, m.normalizer, eval_seq))
            if step == steps:
                break
            seq = replay.sample_sequences(c.seq_batch_size, c.sequence_length)
            loss = losses.dynamics_loss(model, m.normalizer(seq.states), seq.actions, seq.valid)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), c.dynamics_grad_clip)
            optimizer.step()
        curves[dtype] = curve
    return curves


@torch.no_grad()
def unroll_error(model, normalizer, seq) -> list[float]:
    """Mean squared error per state dimension at each of the unroll's steps, valid sequences only."""
    return losses.multi_step_errors(model, normalizer(seq.states), seq.actions, seq.valid).tolist()


def actor_gradient_cosines(learner, steps: int, every: int) -> list[list[float]]:
    """[update, cosine] of the eq. 10 actor gradient through a bfloat16 vs float32 model, along a float32 run."""
    c, m = learner.config, learner.rl_module
    params = list(m.actor.parameters())
    cosines = []
    for step in range(steps + 1):
        if step % every == 0:
            x = m.normalizer(learner.replay.sample(c.batch_size)["obs"])
            grads = []
            for dtype in ("float32", "bfloat16"):
                m.world_model.matmul_dtype = m.world_model.dynamics.matmul_dtype = dtype
                torch.manual_seed(step)  # the same actor noise
                loss = losses.svg_actor_loss(m.actor, m.critic, m.world_model, x, m.temperature.alpha.detach(),
                                             c.gamma, c.horizon, c.actor_loss_per_term).loss
                grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
            m.world_model.matmul_dtype = m.world_model.dynamics.matmul_dtype = "float32"
            cosines.append([step, torch.nn.functional.cosine_similarity(*grads, dim=0).item()])
        learner.target_entropy_now.fill_(learner.target_entropy())
        learner.single_step_update(learner.transition_batch(), *learner.horizons())
        learner.dynamics_update(learner.dynamics_batch())
    return cosines


def verdict(report: dict) -> dict:
    final32, final16 = (report["model_error"][d][-1][1:] for d in ("float32", "bfloat16"))
    ratios = [b / a for a, b in zip(final32, final16)]
    cos = [v for _, v in report["actor_gradient_cosine"]]
    agrees = (max(ratios) <= 1 + ERROR_MARGIN and float(np.median(cos)) >= COSINE_MEDIAN
              and min(cos) >= COSINE_MIN)
    return {"final_error_ratio_bf16_over_fp32": ratios, "cosine_median": float(np.median(cos)),
            "cosine_min": min(cos), "agrees": agrees}


def summary(report: dict) -> str:
    lines = ["world model error per unroll step (held-out, normalized units), float32 | bfloat16:"]
    for row32, row16 in zip(report["model_error"]["float32"], report["model_error"]["bfloat16"]):
        lines.append(f"  update {row32[0]:5d}: " + " ".join(f"{a:.4f}|{b:.4f}" for a, b in zip(row32[1:], row16[1:])))
    lines.append("actor SVG gradient cosine(bf16, fp32) along the run: "
                 + " ".join(f"{s}:{v:.4f}" for s, v in report["actor_gradient_cosine"]))
    v = report["verdict"]
    ratios = [round(r, 3) for r in v["final_error_ratio_bf16_over_fp32"]]
    lines.append(f"verdict: final error ratio bf16/fp32 per step {ratios}, "
                 f"cosine median {v['cosine_median']:.4f} min {v['cosine_min']:.4f} -> "
                 f"{'agrees' if v['agrees'] else 'does not agree'} within the stated margins "
                 f"(error +{ERROR_MARGIN:.0%}, cosine median {COSINE_MEDIAN}, min {COSINE_MIN})")
    return "\n".join(lines)
