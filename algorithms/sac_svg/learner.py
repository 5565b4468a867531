"""SACSVGLearner: Algorithm 1's updates on RLlib's TorchLearner.

The replay buffer lives here, on the learner's device, so that one call per iteration runs every update of
that iteration (M_step single-step and N_seq multi-step updates per collected env step) without moving
batches between processes or syncing with the host until the metrics are read once at the end.
"""
import time
from typing import Any

import numpy as np
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.learner.torch.torch_learner import TorchLearner

from algorithms.sac_svg import losses
from algorithms.sac_svg.replay import TransitionReplay
from algorithms.sac_svg.temperature import target_entropy

REPLAY = "replay"


class SACSVGLearner(TorchLearner):
    def build(self) -> None:
        super().build()
        c = self.config
        torch.set_num_threads(c.learner_cpu_threads)
        self.svg = self.module[DEFAULT_MODULE_ID].unwrapped()
        self.act_dim = self.svg.action_space.shape[0]
        self.replay = TransitionReplay(c.replay_capacity, self.svg.observation_space.shape[0], self.act_dim,
                                       self._device, seed=c.seed or 0)
        self.env_steps = 0  # the env step of Algorithm 1's outer loop (t in eq. 14)

    # --- optimizers: one per component, so no loss moves another component's weights -----------------
    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        m = self.module[module_id].unwrapped()
        self.component_params: dict[str, list[torch.nn.Parameter]] = {}
        for name, net, lr in (("actor", m.actor, config.actor_lr), ("critic", m.critic, config.critic_lr),
                              ("alpha", m.temperature, config.alpha_lr),
                              ("reward", m.world_model.reward, config.model_lr),
                              ("termination", m.world_model.termination, config.model_lr),
                              ("dynamics", m.world_model.dynamics, config.model_lr)):
            params = self.component_params[name] = list(net.parameters())
            self.register_optimizer(module_id=module_id, optimizer_name=name, params=params,
                                    optimizer=torch.optim.Adam(params, lr=lr), lr_or_lr_schedule=lr)

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        raise NotImplementedError("SAC-SVG updates its components in sequence: see update_from_transitions")

    def _step(self, name: str, loss: torch.Tensor, clip: float | None = None) -> None:
        """One Adam step of component `name` on the gradient of `loss` w.r.t. that component only."""
        optimizer = self.get_optimizer(DEFAULT_MODULE_ID, name)
        params = self.component_params[name]
        for p, g in zip(params, torch.autograd.grad(loss, params)):
            p.grad = g
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()

    # --- Algorithm 1 ---------------------------------------------------------------------------------
    def update_from_transitions(self, transitions: dict[str, np.ndarray]) -> dict[str, float]:
        """Append the new env steps to D, then for each of them run the updates Algorithm 1 runs per step."""
        c = self.config
        self.replay.add(transitions)
        self.svg.normalizer.update(torch.as_tensor(transitions["obs"], device=self._device))
        step_stats, seq_stats = [], []
        start = time.perf_counter()
        for _ in range(len(transitions["reward"])):
            self.env_steps += 1
            if self.env_steps < c.num_random_steps or len(self.replay) < 2:
                continue
            step_stats += [self.single_step_update() for _ in range(c.num_step_updates)]
            if c.horizon > 0:
                seq_stats += [self.dynamics_update() for _ in range(c.num_seq_updates)]
        num_updates = len(step_stats)
        stats = _mean(step_stats) | _mean(seq_stats)
        if num_updates:
            stats["learner_ms_per_update"] = 1e3 * (time.perf_counter() - start) / num_updates
            stats.update(self.model_error())
        return stats | {"num_updates": num_updates, "replay_size": len(self.replay),
                        "target_entropy": self.target_entropy()}

    def single_step_update(self) -> dict[str, torch.Tensor]:
        """One pass of Algorithm 1's single-step loop, on one batch D_step, in the paper's order."""
        batch = self.step_batch()
        actor_loss, log_prob = self.update_actor(batch)
        stats = {"loss_actor": actor_loss, "policy_entropy": -log_prob.mean(),
                 "loss_alpha": self.update_alpha(log_prob), "alpha": self.svg.temperature.alpha.detach(),
                 "loss_critic": self.update_critic(batch)}
        if self.config.horizon > 0:  # the world model serves only the SVG(H) actor
            stats |= {"loss_reward": self.update_reward(batch), "loss_termination": self.update_termination(batch)}
        self.update_target_critic()
        return stats

    def step_batch(self) -> dict[str, torch.Tensor]:
        """D_step with normalized observations x and x'."""
        batch = self.replay.sample(self.config.batch_size)
        return batch | {"x": self.svg.normalizer(batch["obs"]), "x_next": self.svg.normalizer(batch["next_obs"])}

    def update_actor(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 10 (eq. 8 during the SAC-actor warm-up); returns the loss and log pi(u_0|x_0)."""
        c, m = self.config, self.svg
        horizon = c.horizon if self.env_steps >= c.actor_warmup_steps else 0
        actor = losses.svg_actor_loss(m.actor, m.critic, m.world_model, batch["x"], m.temperature.alpha.detach(),
                                      c.gamma, horizon, c.actor_loss_per_term)
        self._step("actor", actor.loss, c.actor_grad_clip)
        return actor.loss.detach(), actor.log_prob.detach()

    def update_alpha(self, log_prob: torch.Tensor) -> torch.Tensor:
        """Eq. 9 against the scheduled target entropy (eq. 14)."""
        loss = losses.alpha_loss(self.svg.temperature.log_alpha, log_prob, self.target_entropy())
        self._step("alpha", loss)
        return loss.detach()

    def update_critic(self, batch) -> torch.Tensor:
        """Eq. 5."""
        c, m = self.config, self.svg
        loss = losses.critic_loss(m.critic, m.target_critic, m.actor, batch["x"], batch["action"], batch["reward"],
                                  batch["x_next"], batch["terminated"], m.temperature.alpha.detach(), c.gamma)
        self._step("critic", loss, c.critic_grad_clip)
        return loss.detach()

    def update_reward(self, batch) -> torch.Tensor:
        """Eq. 12."""
        loss = losses.reward_loss(self.svg.world_model, batch["x"], batch["action"], batch["reward"])
        self._step("reward", loss)
        return loss.detach()

    def update_termination(self, batch) -> torch.Tensor:
        """Eq. 13."""
        loss = losses.termination_loss(self.svg.world_model, batch["x"], batch["action"], batch["terminated"],
                                       self.config.termination_balance_classes)
        self._step("termination", loss)
        return loss.detach()

    def dynamics_update(self) -> dict[str, torch.Tensor]:
        """Eq. 11 on a batch of multi-step sequences."""
        c, m = self.config, self.svg
        seq = self.replay.sample_sequences(c.seq_batch_size, c.sequence_length)
        loss = losses.dynamics_loss(m.world_model.dynamics, m.normalizer(seq.states), seq.actions, seq.valid)
        self._step("dynamics", loss, c.dynamics_grad_clip)
        return {"loss_dynamics": loss.detach()}

    @torch.no_grad()
    def update_target_critic(self) -> None:
        """theta_bar <- tau theta + (1 - tau) theta_bar, every step (Table 3)."""
        target = list(self.svg.target_critic.parameters())
        torch._foreach_lerp_(target, list(self.svg.critic.parameters()), self.config.tau)

    def target_entropy(self) -> float:
        """Eq. 14 at the current env step; None entries default to SAC's -|A|."""
        c = self.config
        init = -self.act_dim if c.target_entropy_init is None else c.target_entropy_init
        final = -self.act_dim if c.target_entropy_final is None else c.target_entropy_final
        return target_entropy(self.env_steps, c.total_env_steps, init, final, c.target_entropy_beta)

    @torch.no_grad()
    def model_error(self) -> dict[str, float]:
        """The dynamics' multi-step squared error (per state dimension and step) on the newest transitions."""
        c, m = self.config, self.svg
        if c.horizon == 0:
            return {}
        seq = self.replay.sample_sequences(c.seq_batch_size, c.sequence_length, newest=c.model_error_window)
        states = m.normalizer(seq.states)
        error = (m.world_model.dynamics.unroll(states[0], seq.actions) - states[1:]).pow(2).mean(dim=(0, 2))
        return {"model_error": ((error * seq.valid).sum() / seq.valid.sum().clamp(min=1)).item()}

    # --- checkpoints: RLlib's state plus the replay buffer and the env-step counter --------------------
    def get_state(self, components=None, *, not_components=None, **kwargs) -> dict[str, Any]:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(REPLAY, components, not_components):
            state[REPLAY] = {"env_steps": self.env_steps,
                             "buffer": self.replay.get_state() if self.config.checkpoint_replay else None}
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        if REPLAY in state:
            self.env_steps = state[REPLAY]["env_steps"]
            if state[REPLAY]["buffer"] is not None:
                self.replay.set_state(state[REPLAY]["buffer"])


def _mean(stats: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    """Average each metric over the updates, reading the device once."""
    if not stats:
        return {}
    keys = list(stats[0])
    means = torch.stack([torch.stack([s[k].float() for s in stats]).mean() for k in keys]).tolist()
    return dict(zip(keys, means))
