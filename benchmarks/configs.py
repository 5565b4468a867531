"""The benchmarks' task, network sizes and learner config, shared by `make bench` (bench.py) and the bfloat16
study (bf16_study.py)."""
from algorithms.sac_svg.config import SACSVGConfig
from sweeps.budgets import SMALL_NETWORKS

ENV = "Walker2d-v5"
SIZES = {
    "paper": {},  # Table 3
    "small": SMALL_NETWORKS | dict(batch_size=128, seq_batch_size=128),
}


def config_for(size: str, horizon: int, dtype: str, threads: int, overrides: dict, gpus: int = 0) -> SACSVGConfig:
    return (SACSVGConfig().environment(ENV).learners(num_gpus_per_learner=gpus)
            .training(horizon=horizon, world_model_dtype=dtype, actor_warmup_steps=0, learner_threads=threads,
                      **(SIZES[size] | overrides))
            .debugging(seed=0))
