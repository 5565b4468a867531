"""SACSVGLearner: Algorithm 1's updates on RLlib's TorchLearner.

The replay buffer lives here, on the learner's device, so that one call per iteration runs every update of
that iteration (M_step single-step and N_seq multi-step updates per collected env step) without moving
batches between processes or syncing with the host until the metrics are read once at the end.

Per-update overhead (it dominates at small sizes on a CPU and at every size on a GPU): Adam is the fused
kernel where the device has one (else foreach), the statistics are summed in device buffers, eq. 14's target
entropy and the replay's sampling range are device scalars updated in place, and `compile_updates` compiles
all the updates of one env step (gathering the batches, losses, gradients, clipping, Adam) into one graph per
actor horizon with torch.compile (same mathematics, same random numbers).
"""
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override

from algorithms.sac_svg import losses
from algorithms.sac_svg.compilation import compile_env_step_updates
from algorithms.sac_svg.graphs import CUDAGraphUpdates
from algorithms.sac_svg.guard import NonFiniteGuard, nonfinite_flag
from algorithms.sac_svg.metrics import (
    ALPHA,
    LEARNER_MS_PER_UPDATE,
    LOSS_ACTOR,
    LOSS_ALPHA,
    LOSS_CRITIC,
    LOSS_DYNAMICS,
    LOSS_REWARD,
    LOSS_TERMINATION,
    MODEL_ERROR,
    NUM_UPDATES,
    POLICY_ENTROPY,
    REPLAY_SIZE,
    SKIPPED_UPDATES,
    TARGET_ENTROPY,
)
from algorithms.sac_svg.optimizer import AdamStep, adam_options, clip_grad_norm, compiled_grad_norm, grad_norm
from algorithms.sac_svg.replay import SequenceBatch, TransitionReplay
from algorithms.sac_svg.temperature import target_entropy

REPLAY = "replay"
MODEL_COMPONENTS = ("reward", "termination", "dynamics")  # the world model's, updated only when it is used


class SACSVGLearner(TorchLearner):
    @override(TorchLearner)
    def build(self) -> None:
        super().build()
        c = self.config
        torch.set_num_threads(c.learner_cpu_threads)
        self.rl_module = self.module[DEFAULT_MODULE_ID].unwrapped()
        self.act_dim = self.rl_module.action_space.shape[0]
        self.replay = TransitionReplay(c.replay_capacity, self.rl_module.observation_space.shape[0], self.act_dim,
                                       self._device, seed=c.seed or 0)
        self.env_steps = 0  # the env step of Algorithm 1's outer loop (t in eq. 14)
        self.target_entropy_now = torch.zeros((), device=self._device)  # eq. 14 at env_steps, for eq. 9
        self.stats = DeviceStats()
        self.compiled_env_step_updates = None
        if c.compile_updates:  # compiled, two plain products per critic layer are faster than one batched product
            self.rl_module.critic.batched = self.rl_module.target_critic.batched = False
            self.compiled_env_step_updates = compile_env_step_updates(self.env_step_updates, self._device)
        self.graphs = self.build_cuda_graphs()

    # --- optimizers: one per component, so no loss moves another component's weights -----------------
    @override(TorchLearner)
    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        m = self.module[module_id].unwrapped()
        self.component_params: dict[str, list[torch.nn.Parameter]] = {}
        self.adam_steps: dict[str, AdamStep] = {}
        for name, net, lr in (("actor", m.actor, config.actor_lr), ("critic", m.critic, config.critic_lr),
                              ("alpha", m.temperature, config.alpha_lr),
                              ("reward", m.world_model.reward, config.model_lr),
                              ("termination", m.world_model.termination, config.model_lr),
                              ("dynamics", m.world_model.dynamics, config.model_lr)):
            params = self.component_params[name] = list(net.parameters())
            optimizer = torch.optim.Adam(params, lr=lr, **adam_options(self._device, config.fused_optimizer))
            self.register_optimizer(module_id=module_id, optimizer_name=name, params=params,
                                    optimizer=optimizer, lr_or_lr_schedule=lr)
            self.adam_steps[name] = AdamStep(optimizer, compiled=config.compile_updates)
        self.guard = NonFiniteGuard(self.component_params, config.max_nonfinite_updates, self._device)
        self.grad_norm = compiled_grad_norm if config.compile_updates else grad_norm

    def build_cuda_graphs(self) -> CUDAGraphUpdates | None:
        """With `cuda_graphs`, one env step's updates replay from a CUDA graph per actor horizon (graphs.py)."""
        if not self.config.cuda_graphs:
            return None
        if self._device.type != "cuda":
            raise ValueError(f"cuda_graphs=True needs the learner on a CUDA GPU; it is on {self._device}")
        return CUDAGraphUpdates(self.run_env_step_updates, self.stats.counts, [self.replay.generator])

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        raise NotImplementedError("SAC-SVG updates its components in sequence: see update_from_transitions")

    def optimizer_step(self, name: str, loss: torch.Tensor, clip: float | None = None) -> None:
        """One Adam step of component `name` on the gradient of `loss` w.r.t. that component only; skipped
        (and counted) when the loss or a gradient is not finite (guard.py)."""
        params = self.component_params[name]
        grads = list(torch.autograd.grad(loss, params))
        norm = self.grad_norm(grads)
        skip = nonfinite_flag(loss, norm)
        self.guard.record(name, skip)
        if clip is not None:
            clip_grad_norm(grads, clip, norm)
        self.adam_steps[name].step(grads, skip)

    # --- Algorithm 1 ---------------------------------------------------------------------------------
    def update_from_transitions(self, transitions: dict[str, np.ndarray]) -> dict[str, float]:
        """Append the new env steps to D, then for each of them run the updates Algorithm 1 runs per step."""
        c = self.config
        self.replay.add(transitions)
        self.rl_module.normalizer.update(torch.as_tensor(transitions["obs"], device=self._device))
        num_updates = 0
        start = time.perf_counter()
        for _ in range(len(transitions["reward"])):
            self.env_steps += 1
            if self.env_steps < c.num_random_steps or len(self.replay) < 2:
                continue
            self.target_entropy_now.fill_(self.target_entropy())
            if self.graphs is None:
                self.run_env_step_updates()
            else:
                self.graphs(self.horizons())
            num_updates += c.num_step_updates
        elapsed = time.perf_counter() - start
        if num_updates:
            self.stats.add(self.model_error())
        stats = self.stats.read_means()  # the host reads of the call: the metrics, then the guard's counts
        stats[SKIPPED_UPDATES] = self.guard.read(self.env_steps)
        if num_updates:
            stats[LEARNER_MS_PER_UPDATE] = 1e3 * elapsed / num_updates
        return stats | {NUM_UPDATES: num_updates, REPLAY_SIZE: len(self.replay),
                        TARGET_ENTROPY: self.target_entropy()}

    def run_env_step_updates(self) -> None:
        """The updates Algorithm 1 runs per env step: M_step single-step, then N_seq dynamics updates. The
        replay's random numbers for all their batches are drawn first, in that order; the batches themselves
        are gathered in env_step_updates (inside the compiled graph with `compile_updates`)."""
        c = self.config
        transition_draws = [self.replay.draw_transitions(c.batch_size) for _ in range(c.num_step_updates)]
        dynamics_draws = [self.dynamics_draw() for _ in range(c.num_seq_updates if self.learns_model else 0)]
        for stats in self.current_env_step_updates()(transition_draws, dynamics_draws, *self.horizons()):
            self.stats.add(stats)

    def current_env_step_updates(self) -> Callable:
        """env_step_updates, compiled with `compile_updates` once every optimizer has made its first (eager) step,
        which creates Adam's state; a restored checkpoint's state is taken over the same way."""
        ready = all(step.ready for name, step in self.adam_steps.items()
                    if self.learns_model or name not in MODEL_COMPONENTS)
        compiled = self.compiled_env_step_updates
        return compiled if compiled is not None and ready else self.env_step_updates

    def env_step_updates(self, transition_draws: list[torch.Tensor], dynamics_draws: list[torch.Tensor],
                         horizon: int, critic_horizon: int) -> list[dict[str, torch.Tensor]]:
        """One env step's updates on the batches at the replay's draws, with the actor's horizon H and the
        critic's expansion horizon; their statistics."""
        return ([self.single_step_update(self.transition_batch(draw), horizon, critic_horizon)
                 for draw in transition_draws]
                + [self.dynamics_update(self.dynamics_batch(draw)) for draw in dynamics_draws])

    def single_step_update(self, batch: losses.Transitions, horizon: int,
                           critic_horizon: int) -> dict[str, torch.Tensor]:
        """One pass of Algorithm 1's single-step loop, on one batch D_step, in the paper's order."""
        actor_loss, log_prob = self.update_actor(batch, horizon)
        stats = {LOSS_ACTOR: actor_loss, POLICY_ENTROPY: -log_prob.mean(),
                 LOSS_ALPHA: self.update_alpha(log_prob), ALPHA: self.rl_module.temperature.alpha.detach(),
                 LOSS_CRITIC: self.update_critic(batch, critic_horizon)}
        if self.learns_model:
            stats |= {LOSS_REWARD: self.update_reward(batch), LOSS_TERMINATION: self.update_termination(batch)}
        self.update_target_critic()
        return stats

    @property
    def learns_model(self) -> bool:
        """The world model is updated only where the actor (H > 0) or the expanded critic uses it."""
        return self.config.learns_model

    def transition_batch(self, draw: torch.Tensor | None = None) -> losses.Transitions:
        """D_step with normalized observations x and x', at the replay's `draw` (a new one if None)."""
        batch = self.replay.sample(self.config.batch_size) if draw is None else self.replay.transitions_at(draw)
        normalize = self.rl_module.normalizer
        return losses.Transitions(x=normalize(batch["obs"]), u=batch["action"], r=batch["reward"],
                                  x_next=normalize(batch["next_obs"]), terminated=batch["terminated"])

    def update_actor(self, batch: losses.Transitions, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 10 with horizon H (eq. 8 for H = 0); returns the loss and log pi(u_0|x_0)."""
        c, m = self.config, self.rl_module
        actor = losses.svg_actor_loss(m.actor, m.critic, m.world_model, batch.x, m.temperature.alpha.detach(),
                                      c.gamma, horizon, c.actor_loss_per_term)
        self.optimizer_step("actor", actor.loss, self.config.actor_grad_clip)
        return actor.loss.detach(), actor.log_prob.detach()

    def actor_horizon(self) -> int:
        """H in eq. 10, or 0 (SAC's eq. 8) during the SAC-actor warm-up."""
        return self.config.horizon if self.warmed_up() else 0

    def critic_horizon(self) -> int:
        """Model steps of the critic's value expansion, or 0 (eq. 5) during the SAC-actor warm-up."""
        return self.config.critic_expansion_horizon if self.warmed_up() else 0

    def warmed_up(self) -> bool:
        return self.env_steps >= self.config.actor_warmup_steps

    def horizons(self) -> tuple[int, int]:
        """The actor's and the critic's horizons now: the key of a compiled or captured env step's updates."""
        return self.actor_horizon(), self.critic_horizon()

    def update_alpha(self, log_prob: torch.Tensor) -> torch.Tensor:
        """Eq. 9 against the scheduled target entropy (eq. 14)."""
        loss = losses.alpha_loss(self.rl_module.temperature.log_alpha, log_prob, self.target_entropy_now)
        self.optimizer_step("alpha", loss)
        return loss.detach()

    def update_critic(self, batch: losses.Transitions, critic_horizon: int) -> torch.Tensor:
        """Eq. 5, or with critic_mve the value-expanded target ("target") or Feinberg et al.'s MVE ("full") over
        `critic_horizon` model steps (0: eq. 5)."""
        m, c = self.rl_module, self.config
        alpha = m.temperature.alpha.detach()
        if critic_horizon == 0:  # critic_mve="none", or the SAC-actor warm-up
            loss = losses.critic_loss(m.critic, m.target_critic, m.actor, batch, alpha=alpha, gamma=c.gamma)
        else:
            expanded = {"target": losses.expanded_target_critic_loss, "full": losses.mve_critic_loss}[c.critic_mve]
            loss = expanded(m.critic, m.target_critic, m.actor, m.world_model, batch, alpha=alpha, gamma=c.gamma,
                            horizon=critic_horizon)
        self.optimizer_step("critic", loss, self.config.critic_grad_clip)
        return loss.detach()

    def update_reward(self, batch: losses.Transitions) -> torch.Tensor:
        """Eq. 12."""
        loss = losses.reward_loss(self.rl_module.world_model, batch.x, batch.u, batch.r)
        self.optimizer_step("reward", loss)
        return loss.detach()

    def update_termination(self, batch: losses.Transitions) -> torch.Tensor:
        """Eq. 13."""
        loss = losses.termination_loss(self.rl_module.world_model, batch.x, batch.u, batch.terminated,
                                       self.config.termination_balance_classes)
        self.optimizer_step("termination", loss)
        return loss.detach()

    def sequence_batch(self, draw: torch.Tensor | None = None, newest: int | None = None) -> SequenceBatch:
        """D_seq: multi-step sequences for eq. 11 at the replay's `draw` (a new one if None), among the `newest`
        transitions only if given."""
        c = self.config
        if draw is None:
            return self.replay.sample_sequences(c.seq_batch_size, c.sequence_length, newest=newest)
        return self.replay.sequences_at(draw, c.sequence_length, newest=newest)

    def dynamics_draw(self) -> torch.Tensor:
        """The replay's random numbers for one dynamics batch (`dynamics_batch`)."""
        return self.rl_module.world_model.dynamics.draw(self.replay, self.config)

    def dynamics_batch(self, draw: torch.Tensor | None = None):
        """The dynamics model's training batch at the replay's `draw` (a new one if None), as the model draws it
        (dynamics_models.py): multi-step sequences for the GRU (eq. 11), one bootstrap batch of one-step
        transitions per member for the MLP ensemble."""
        dynamics = self.rl_module.world_model.dynamics
        return dynamics.training_batch(self.replay, self.dynamics_draw() if draw is None else draw, self.config)

    def dynamics_update(self, batch) -> dict[str, torch.Tensor]:
        """One optimizer step of the dynamics model on its batch (from `dynamics_batch`) with the model's own loss
        and gradient clip (dynamics_models.py); LOSS_DYNAMICS is per model."""
        dynamics = self.rl_module.world_model.dynamics
        loss, reported = dynamics.training_loss(batch, self.rl_module.normalizer)
        self.optimizer_step("dynamics", loss, dynamics.grad_clip(self.config))
        return {LOSS_DYNAMICS: reported.detach()}

    @torch.no_grad()
    def model_errors(self, seq: SequenceBatch) -> torch.Tensor:
        """Eq. 11's multi-step squared error per unroll step [L-1] (per state dimension, over the valid sequences),
        on normalized observations: the same function for every dynamics model."""
        m = self.rl_module
        return losses.multi_step_errors(m.world_model.dynamics, m.normalizer(seq.states), seq.actions, seq.valid)

    @torch.no_grad()
    def update_target_critic(self) -> None:
        """theta_bar <- tau theta + (1 - tau) theta_bar, every step (Table 3)."""
        target = list(self.rl_module.target_critic.parameters())
        torch._foreach_lerp_(target, list(self.rl_module.critic.parameters()), self.config.tau)

    def target_entropy(self) -> float:
        """Eq. 14 at the current env step; None entries default to SAC's -|A|."""
        c = self.config
        init = -self.act_dim if c.target_entropy_init is None else c.target_entropy_init
        final = -self.act_dim if c.target_entropy_final is None else c.target_entropy_final
        return target_entropy(self.env_steps, c.total_env_steps, init, final, c.target_entropy_beta)

    @torch.no_grad()
    def model_error(self) -> dict[str, torch.Tensor]:
        """The dynamics' multi-step squared error (per state dimension and step) on the newest transitions."""
        if not self.learns_model:
            return {}
        return {MODEL_ERROR: self.model_errors(self.sequence_batch(newest=self.config.model_error_window)).mean()}

    # --- checkpoints: RLlib's state plus the replay buffer and the env-step counter --------------------
    @override(TorchLearner)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> dict[str, Any]:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(REPLAY, components, not_components):
            state[REPLAY] = {"env_steps": self.env_steps,
                             "buffer": self.replay.get_state() if self.config.checkpoint_replay else None}
        return state

    @override(TorchLearner)
    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        if self.graphs is not None:
            self.graphs.reset()  # the restored optimizers hold new state tensors
        if REPLAY in state:
            self.env_steps = state[REPLAY]["env_steps"]
            if state[REPLAY]["buffer"] is not None:
                self.replay.set_state(state[REPLAY]["buffer"])


class DeviceStats:
    """Per-update metrics summed into persistent device buffers (a CUDA graph adds into the same ones);
    `read_means` reads them once and zeroes them in place. `counts` says how many values each sum holds."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for key, value in stats.items():
            if key in self.sums:
                self.sums[key].add_(value.detach())
            else:
                self.sums[key] = value.detach().float().clone()
            self.counts[key] = self.counts.get(key, 0) + 1

    def read_means(self) -> dict[str, float]:
        read = [key for key in self.sums if self.counts.get(key, 0)]
        if not read:
            return {}
        sums = torch.stack([self.sums[key] for key in read]).tolist()
        means = {key: total / self.counts[key] for key, total in zip(read, sums)}
        for total in self.sums.values():
            total.zero_()
        self.counts.clear()
        return means
