"""SACSVGConfig: every hyper-parameter of SAC-SVG(H) in one typed place.

Defaults are the paper's Table 3 with H = 2; where the paper is silent they follow the official code.
`official_code_defaults()` switches to the official implementation's values where they differ from the
paper. docs/fidelity.md lists every value with its source. Each field's annotation is also its check
(`validate`, and `--set`'s parsing in sweeps.experiment): its type, a Literal's allowed values, and an Annotated
Range for numbers; floats are finite.
"""
import difflib
import inspect
import math
import pathlib
import types
import typing
from dataclasses import dataclass, fields
from typing import Annotated, Literal

import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from algorithms.sac_svg.dynamics_models import DynamicsModelName
from algorithms.sac_svg.env_runner import LeanSingleAgentEnvRunner
from algorithms.sac_svg.random_actions import SeedRandomActions


@dataclass(frozen=True)
class Range:
    """The values a number field allows: above `low` (or at it, `closed`), at most `high`."""
    low: float
    closed: bool = False
    high: float = math.inf

    def error(self, name: str, value: float) -> str | None:
        if self.high < math.inf:
            return None if self.low < value <= self.high else f"{name}={value!r} must be in ({self.low}, {self.high}]"
        if self.closed:
            return None if value >= self.low else f"{name}={value!r} must be >= {self.low}"
        return None if value > self.low else f"{name}={value!r} must be > {self.low}"


PositiveInt = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0)]
Count = Annotated[int, Range(0, closed=True)]  # >= 0


@dataclass
class NetworkHyperparameters:
    """The networks' sizes and options: the RLModule's model config is exactly these fields."""
    hidden_dim: PositiveInt = 512           # Table 3: actor and critic MLPs
    hidden_depth: Count = 2
    model_hidden_dim: PositiveInt = 512     # Table 3: reward, termination and dx MLPs
    model_hidden_depth: Count = 2
    decoder_depth: Count = 2                # section 4.2: f_dec is a multi-layer MLP (official: 0, linear)
    gru_hidden_dim: PositiveInt = 512       # Table 3: 2-layer GRU, 512 units
    gru_layers: PositiveInt = 2
    log_std_min: float = -5.0               # Table 3: actor log-std bounds
    log_std_max: float = 2.0
    init_alpha: PositiveFloat = 0.1         # Table 3
    normalize_obs: bool = True              # official code's choice (docs/fidelity.md)
    obs_std_min: float = 0.1
    obs_std_max: float = 10.0
    dynamics_detach_feedback: bool = False  # official: True
    # The dynamics model f (dynamics_models.py): "gru" = section 4.2's recurrent model on multi-step sequences (eq. 11);
    # "mlp_ensemble" = ensemble_size MLP delta models on one-step transitions, each on its own bootstrap batch
    # (ensemble.py; the models of PETS and MBPO that fig. 3 compares with), model_hidden_dim x model_hidden_depth.
    dynamics_model: DynamicsModelName = "gru"
    ensemble_size: PositiveInt = 5          # members of the mlp_ensemble (fig. 3: 5)
    # The world model's matrix products: float32 on every machine, so that a run's numerics do not depend on
    # where it lands; "bfloat16" explicitly, or "auto" = bfloat16 where the learner's hardware computes it
    # natively, else float32 (docs/performance.md: the bfloat16 study). Results report the dtype used.
    world_model_dtype: Literal["auto", "float32", "bfloat16"] = "float32"

    @classmethod
    def from_model_config(cls, model_config: dict) -> "NetworkHyperparameters":
        """The fields back from an RLModule's model config (SACSVGConfig._model_config_auto_includes)."""
        return cls(**{f.name: model_config[f.name] for f in fields(cls)})


# The fields that fix the shapes of the learner's tensors (the RL module's networks, the replay): a checkpoint
# restores only into the same values (checkpoint.py).
SHAPE_FIELDS = ("hidden_dim", "hidden_depth", "model_hidden_dim", "model_hidden_depth", "decoder_depth",
                "gru_hidden_dim", "gru_layers", "dynamics_model", "ensemble_size", "replay_capacity")
# The fields that rebuild the policy alone, the actor and the normalizer (rl_module.py): the slim policy's sizes
# (policy_file.py).
POLICY_FIELDS = ("hidden_dim", "hidden_depth", "log_std_min", "log_std_max", "normalize_obs", "obs_std_min",
                 "obs_std_max")


@dataclass
class SVGHyperparameters(NetworkHyperparameters):
    """Field names follow the paper; comments give the source of each default."""
    horizon: Count = 2                      # H model steps; H = 0 is SAC (section 4.1)
    tau: Annotated[float, Range(0, high=1)] = 5e-3  # Table 3: critic target update rate, every step
    actor_lr: PositiveFloat = 1e-4          # Table 3
    critic_lr: PositiveFloat = 1e-4         # Table 3
    alpha_lr: PositiveFloat = 5e-4          # Table 3: temperature LR
    model_lr: PositiveFloat = 1e-3          # Table 3: reward, termination and dynamics LRs
    batch_size: PositiveInt = 512           # Table 3: single-step batch
    seq_batch_size: PositiveInt = 1024      # Table 3: multi-step batch
    num_step_updates: Count = 1             # Table 3: M_step single-step updates per env step
    num_seq_updates: Count = 4              # Table 3: N_seq multi-step dynamics updates per env step (the
                                            # mlp_ensemble's one-step updates per env step, seq_batch_size rows
                                            # per member)
    replay_capacity: PositiveInt = 1_000_000  # Table 3
    # Eq. 14 target entropy schedule; None -> -|A| (SAC's heuristic). beta None = constant.
    target_entropy_init: float | None = None
    target_entropy_final: float | None = None
    target_entropy_beta: float | None = None
    total_env_steps: PositiveInt = 1_000_000  # T in eq. 14 and the run's length
    # Options where the paper is silent: the official code's choice (docs/fidelity.md).
    num_random_steps: Count = 1_000         # uniform random actions first; updates start then
    actor_warmup_steps: Count = 10_000      # plain SAC actor loss (H = 0) before this many env steps
    dynamics_seq_len: int | None = None     # states per training sequence; None -> H + 1
    # Critic value expansion (fig. 4, 6; losses.py): "none" = eq. 5; "target" = eq. 6's target with an H-step
    # model rollout from x' (official critic_target_mve); "full" = Feinberg et al. (2018)'s MVE, the critic fit
    # on the real and every imagined state-action of the rollout (official full_target_mve). After the
    # SAC-actor warm-up only, as in the official code.
    critic_mve: Literal["none", "target", "full"] = "none"
    critic_horizon: Count | None = None     # model steps of the critic's rollout; None -> horizon (the actor's H)
    dynamics_grad_clip: float | None = 1.0  # official dx clip_grad_norm, on eq. 11 as a mean (the GRU; the
                                            # mlp_ensemble is unclipped, as in MBPO: members stay independent)
    actor_grad_clip: float | None = None    # official: none (only dx is clipped)
    critic_grad_clip: float | None = None   # official: none
    actor_loss_per_term: bool = False       # official divides eq. 10 by H + 1
    termination_balance_classes: bool = False  # official: pos weight #not-done / #done
    # Running the experiment.
    report_interval_steps: PositiveInt = 1_000  # env steps per Algorithm.train() iteration
    eval_interval_steps: PositiveInt = 10_000  # deterministic evaluation every this many env steps
    eval_episodes: PositiveInt = 10
    model_error_window: PositiveInt = 10_000  # "recent data" for the multi-step model error metric
    checkpoint_replay: bool = True          # keep the replay buffer in checkpoints
    max_nonfinite_updates: PositiveInt = 10  # a component's skipped non-finite updates in a row before the trial fails
    checkpoint_every_s: float | None = None  # also checkpoint when this much time passed (None: off)
    eval_video: bool = False                # after each evaluation, an MP4 of one episode of the evaluated policy in
                                            # the trial folder (eval_video.mp4), logged to W&B (sweeps/eval_video.py)
    overlap_sampling: bool = False          # request the next fragment before updating on this one: env stepping and
                                            # learning run at the same time, the actor one fragment older
                                            # (docs/fidelity.md); needs num_env_runners >= 1
    learner_threads: PositiveInt | None = None  # torch CPU threads; None = the CPUs Ray reserves for the learner
    # Speed only: the same mathematics either way (see learner.py and `make bench`).
    fused_optimizer: bool = True            # fused Adam (foreach where no fused kernel); False: per-parameter loop
    compile_updates: bool = False           # torch.compile each env step's updates into one graph (learner.py)
    cuda_graphs: bool = False               # replay each env step's updates from a CUDA graph (GPU learner only;
                                            # off until measured on a GPU, graphs.py)

    @staticmethod
    def official_code_defaults() -> dict:
        """The official implementation's values where they differ from our defaults (docs/fidelity.md).

        Its only gradient clip is the dynamics' 1.0, already our default: actor and critic stay unclipped.
        """
        return dict(batch_size=1024, seq_batch_size=512, hidden_depth=4, alpha_lr=1e-4, decoder_depth=0,
                    dynamics_detach_feedback=True, actor_loss_per_term=True, termination_balance_classes=True)


SVG_FIELDS = {f.name: f for f in fields(SVGHyperparameters)}
RLLIB_TRAINING_FIELDS = frozenset(inspect.signature(AlgorithmConfig.training).parameters) - {"self"}


class SACSVGConfig(AlgorithmConfig):
    """AlgorithmConfig for SACSVG: `training()` takes every SVGHyperparameters field."""

    def __init__(self, algo_class=None):
        from algorithms.sac_svg.algorithm import SACSVG

        super().__init__(algo_class=algo_class or SACSVG)
        self.callbacks_class = SeedRandomActions
        self.env_runner_cls = LeanSingleAgentEnvRunner
        for name, f in SVG_FIELDS.items():
            setattr(self, name, f.default)
        self.gamma = 0.99                       # Table 3 discount
        self.rollout_fragment_length = 10       # env steps per runner between weight syncs
        self.num_env_runners = 1
        self.evaluation_config = {"explore": False}  # deterministic mean action
        self.evaluation_duration_unit = "episodes"
        self._sync_rllib_settings()

    @override(AlgorithmConfig)
    def training(self, **kwargs) -> "SACSVGConfig":
        unknown = [k for k in kwargs if k not in SVG_FIELDS and k not in RLLIB_TRAINING_FIELDS]
        if unknown:
            raise TypeError(f"SACSVGConfig.training(): unknown field {unknown[0]!r}"
                            f"{_closest(unknown[0], [*SVG_FIELDS, *RLLIB_TRAINING_FIELDS])}")
        ours = {k: kwargs.pop(k) for k in list(kwargs) if k in SVG_FIELDS}
        super().training(**kwargs)
        for name, value in ours.items():
            if value is not NotProvided:
                setattr(self, name, value)
        self._sync_rllib_settings()
        return self

    @override(AlgorithmConfig)
    def update_from_dict(self, config_dict: dict) -> "SACSVGConfig":
        super().update_from_dict(config_dict)
        self._sync_rllib_settings()
        return self

    def official_code_defaults(self) -> "SACSVGConfig":
        """The official implementation's hyper-parameters instead of the paper's Table 3 (docs/fidelity.md)."""
        return self.training(**SVGHyperparameters.official_code_defaults())

    def _sync_rllib_settings(self) -> None:
        """Derive RLlib's iteration and evaluation settings from ours (one source of truth)."""
        self.min_sample_timesteps_per_iteration = self.report_interval_steps
        self.evaluation_interval = max(1, self.eval_interval_steps // max(1, self.report_interval_steps))
        self.evaluation_duration = self.eval_episodes

    @property
    def learner_cpu_threads(self) -> int:
        """Threads for the learner's CPU work: the CPUs Ray reserves for it, so trials never oversubscribe.

        A local learner that alternates with the env runners (sampling waits for the update and the other way
        round) may use the whole trial's reservation: main process plus env runners. With overlap_sampling the
        env runners step their envs during the update, so the learner keeps to the main process's CPUs.
        """
        if self.learner_threads is not None:
            return self.learner_threads
        if self.num_learners > 0:
            reserved = self.num_cpus_per_learner if is_number(self.num_cpus_per_learner) else 1
        else:
            reserved = self.num_cpus_for_main_process
            if not self.overlap_sampling:
                reserved += self.num_env_runners * self.num_cpus_per_env_runner
        return max(1, int(reserved))

    @property
    def resolved_world_model_dtype(self) -> str:
        """world_model_dtype with "auto" decided for the learner's device (see native_bfloat16)."""
        if self.world_model_dtype != "auto":
            return self.world_model_dtype
        return "bfloat16" if native_bfloat16("cuda" if self.learner_on_gpu else "cpu") else "float32"

    @property
    def learner_on_gpu(self) -> bool:
        return is_number(self.num_gpus_per_learner) and self.num_gpus_per_learner > 0

    @property
    def sequence_length(self) -> int:
        """States per dynamics training sequence (and model-error sequence): x_1 .. x_{H+1} by default, H the longer
        of the actor's and the critic's rollouts (at least one model step)."""
        return self.dynamics_seq_len or max(self.horizon, self.critic_expansion_horizon, 1) + 1

    @property
    def critic_expansion_horizon(self) -> int:
        """Model steps of the critic's rollout: 0 for eq. 5 (critic_mve="none")."""
        if self.critic_mve == "none":
            return 0
        return self.horizon if self.critic_horizon is None else self.critic_horizon

    @property
    def learns_model(self) -> bool:
        """Whether the world model is used, so learned: by the SVG(H) actor (H > 0) or the expanded critic."""
        return self.horizon > 0 or self.critic_expansion_horizon > 0

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        errors = [e for name, f in SVG_FIELDS.items() if (e := field_error(name, getattr(self, name), f.type))]
        errors += _value_errors(self)
        if errors:
            raise ValueError("invalid SAC-SVG configuration:\n  " + "\n  ".join(errors))

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from algorithms.sac_svg.rl_module import SACSVGModule

        return RLModuleSpec(module_class=SACSVGModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        from algorithms.sac_svg.learner import SACSVGLearner

        return SACSVGLearner

    @property
    @override(AlgorithmConfig)
    def _model_config_auto_includes(self) -> dict:
        networks = {f.name: getattr(self, f.name) for f in fields(NetworkHyperparameters)}
        return super()._model_config_auto_includes | networks | {"world_model_dtype": self.resolved_world_model_dtype}


def native_bfloat16(device_type: str) -> bool:
    """Whether `device_type` multiplies bfloat16 matrices in hardware: a CUDA GPU that torch says supports
    bfloat16 (compute capability 8.0+), or a CPU with AVX512-BF16 or AMX-BF16 (Linux /proc/cpuinfo flags)."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    try:
        flags = set(pathlib.Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def field_error(name: str, value, annotation) -> str | None:
    """A message if `value` does not fit the field's annotation: int, float (finite), bool, str, a Literal's values,
    X | None, and an Annotated X's Range."""
    kinds = field_kinds(annotation)
    for kind in kinds:
        base, checks = base_type(kind), getattr(kind, "__metadata__", ())
        if not _fits(value, base):
            continue
        if base is float and not math.isfinite(value):
            return f"{name}={value!r} must be a finite number"
        return next((e for check in checks if (e := check.error(name, value))), None)
    literal = next((k for k in kinds if typing.get_origin(k) is Literal), None)
    if literal is not None:
        return f"{name}={value!r} must be one of {typing.get_args(literal)}{_closest(value, typing.get_args(literal))}"
    return f"{name}={value!r}: expected {' or '.join(kind_name(k) for k in kinds)}"


def field_kinds(annotation) -> tuple:
    """The kinds of value a field's annotation allows: (X, NoneType) for X | None, else (X,)."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return typing.get_args(annotation) if union else (annotation,)


def base_type(kind):
    """int for Annotated[int, Range(...)]; any other kind as it is."""
    return typing.get_args(kind)[0] if typing.get_origin(kind) is Annotated else kind


def kind_name(kind) -> str:
    """int, float, ... for a field's annotation (an Annotated one by its type)."""
    return "None" if kind is type(None) else base_type(kind).__name__


def _fits(value, kind) -> bool:
    if kind is type(None):
        return value is None
    if typing.get_origin(kind) is Literal:
        return type(value) is str and value in typing.get_args(kind)
    if kind is float:
        return is_number(value)
    return type(value) is kind


def _closest(value, names) -> str:
    close = difflib.get_close_matches(str(value), [str(n) for n in names], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _value_errors(c: SACSVGConfig) -> list[str]:
    """The checks across fields (each field's own are its annotation's, `field_error`)."""
    errors = []
    if is_number(c.log_std_min) and is_number(c.log_std_max) and c.log_std_min >= c.log_std_max:
        errors.append(f"log_std_min={c.log_std_min} must be below log_std_max={c.log_std_max}")
    if c.target_entropy_beta is None and c.target_entropy_init != c.target_entropy_final:
        errors.append("target_entropy_beta=None means a constant target entropy: "
                      f"set target_entropy_init ({c.target_entropy_init}) == target_entropy_final "
                      f"({c.target_entropy_final}) or give a beta (eq. 14)")
    if c.dynamics_seq_len is not None and is_number(c.dynamics_seq_len) and c.dynamics_seq_len < 2:
        errors.append(f"dynamics_seq_len={c.dynamics_seq_len} must be >= 2 (one model step)")
    errors += _critic_mve_errors(c)
    if c.num_learners > 1:
        errors.append(f"num_learners={c.num_learners}: SAC-SVG keeps its replay on one learner; use 0 or 1")
    if is_number(c.num_gpus_per_learner) and c.num_gpus_per_learner > 1:
        errors.append(f"num_gpus_per_learner={c.num_gpus_per_learner}: the one SAC-SVG learner runs on one "
                      "device; use a fraction of one GPU, e.g. 0.25, or 1")
    if c.overlap_sampling and c.num_env_runners == 0 and not c.in_evaluation:
        errors.append("overlap_sampling=True needs env runner processes to sample while the learner updates: "
                      "num_env_runners is 0")
    if c.cuda_graphs and not c.learner_on_gpu:
        errors.append(f"cuda_graphs=True needs the learner on a GPU: num_gpus_per_learner is "
                      f"{c.num_gpus_per_learner!r} (--gpus-per-trial, or --set num_gpus_per_learner=1)")
    errors += [f"{name}=True needs fused_optimizer=True (the unfused Adam reads its skip flag on the host)"
               for name in ("cuda_graphs", "compile_updates") if getattr(c, name) and not c.fused_optimizer]
    return errors


def _critic_mve_errors(c: SACSVGConfig) -> list[str]:
    """A value-expanded critic with no model step to expand over: it would be eq. 5 with no world model learned."""
    if c.critic_mve not in ("target", "full") or not all(is_number(v) for v in (c.horizon, c.critic_horizon or 0)):
        return []
    if c.critic_expansion_horizon == 0:
        source = "critic_horizon=0" if c.critic_horizon is not None else "critic_horizon=None (the actor's horizon=0)"
        return [f"critic_mve={c.critic_mve!r} with {source} expands over no model step (eq. 5, and no world "
                "model is learned): set critic_horizon >= 1, or use critic_mve='none'"]
    return []


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
