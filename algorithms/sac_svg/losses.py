"""The losses of Algorithm 1, each beside its equation, and the critic value-expansion variants of section 5.2.
All inputs are normalized observations."""
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.sac_svg.actor import TanhGaussianActor
from algorithms.sac_svg.critic import DoubleQCritic
from algorithms.sac_svg.world_model import WorldModel


class Transitions(NamedTuple):
    """A single-step batch D_step: normalized x, the action u, reward r, normalized x' and d, a real
    termination (a time limit is not one)."""
    x: torch.Tensor
    u: torch.Tensor
    r: torch.Tensor
    x_next: torch.Tensor
    terminated: torch.Tensor


@dataclass
class Rollout:
    """An H-step rollout of the current policy through the learned model from x_0: the states x_0 .. x_H, the
    actions u_t ~ pi(x_t) and their log pi(u_t|x_t) for t = 0 .. H, and for t < H the predicted rewards
    r(x_t, u_t) and not-done probabilities 1 - sigmoid(d(x_t, u_t))."""
    states: list[torch.Tensor] = field(default_factory=list)
    actions: list[torch.Tensor] = field(default_factory=list)
    log_probs: list[torch.Tensor] = field(default_factory=list)
    rewards: list[torch.Tensor] = field(default_factory=list)
    not_done: list[torch.Tensor] = field(default_factory=list)


def policy_rollout(actor: TanhGaussianActor, world_model: WorldModel, x: torch.Tensor, horizon: int) -> Rollout:
    """The rollout of eq. 10 (the actor) and of the critic's value expansions: u_t ~ pi(x_t), then the reward,
    termination and dynamics models at (x_t, u_t); h_1 = 0 (None), or the GRU's hidden state / the ensemble's
    member per row after it."""
    rollout, h = Rollout(), None
    for t in range(horizon + 1):
        u, log_prob = actor.sample(x)
        rollout.states.append(x)
        rollout.actions.append(u)
        rollout.log_probs.append(log_prob)
        if t == horizon:
            return rollout
        reward, done_logit = world_model.reward_and_termination_logit(x, u)
        rollout.rewards.append(reward)
        rollout.not_done.append(1 - torch.sigmoid(done_logit))
        x, h = world_model.dynamics.step(x, u, h)


def expanded_value(rollout: Rollout, q_end: torch.Tensor, alpha: torch.Tensor, gamma: float) -> torch.Tensor:
    """V_{0:H}(x_0) of eq. 10 from a rollout, with q_end = min(Q1, Q2)(x_H, u_H) (the critic's or its target's):

    V_{0:H} = sum_{t<H} gamma^t (c_t r(x_t, u_t) - alpha log pi(u_t|x_t))
              + gamma^H (c_H q_end - alpha log pi(u_H|x_H)),
    with c_t = prod_{k<t} (1 - d(x_k, u_k)) the probability of not having terminated before step t.
    """
    alive = torch.ones_like(q_end)
    value = torch.zeros_like(q_end)
    for t, (reward, not_done) in enumerate(zip(rollout.rewards, rollout.not_done)):
        value = value + gamma**t * (alive * reward - alpha * rollout.log_probs[t])
        alive = alive * not_done
    horizon = len(rollout.rewards)
    return value + gamma**horizon * (alive * q_end - alpha * rollout.log_probs[horizon])


@dataclass
class ActorLoss:
    loss: torch.Tensor
    log_prob: torch.Tensor  # log pi(u_0|x_0) at the real replay state, for eq. 9


def svg_actor_loss(actor: TanhGaussianActor, critic: DoubleQCritic, world_model: WorldModel, x: torch.Tensor,
                   alpha: torch.Tensor, gamma: float, horizon: int, per_term_scale: bool) -> ActorLoss:
    """Eq. 10: J = E_x[-V_{0:H}(x)], the entropy-regularized value expansion through the learned model
    (`expanded_value`). H = 0 gives SAC's actor loss (eq. 8): E[alpha log pi(u|x) - min Q(x, u)]."""
    rollout = policy_rollout(actor, world_model, x, horizon)
    q_end = critic.min_q(rollout.states[-1], rollout.actions[-1])
    loss = -expanded_value(rollout, q_end, alpha, gamma).mean()
    # The official code divides by the number of terms (H + 1); the paper's eq. 10 does not.
    return ActorLoss(loss / (horizon + 1) if per_term_scale else loss, rollout.log_probs[0])


def alpha_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """Eq. 9: J_alpha = E[-alpha log pi(u|x) - alpha H_target], log pi held fixed."""
    return (log_alpha.exp() * (-log_prob.detach() - target_entropy)).mean()


def critic_loss(critic: DoubleQCritic, target_critic: DoubleQCritic, actor: TanhGaussianActor, batch: Transitions,
                *, alpha: torch.Tensor, gamma: float) -> torch.Tensor:
    """Eq. 5-7: (Q_i(x, u) - r - gamma (1 - d) V_target(x'))^2 summed over both critics.

    V_target(x') = min(Q1_bar, Q2_bar)(x', u') - alpha log pi(u'|x'), u' ~ pi(x'); d is a real termination only
    (a time limit bootstraps).
    """
    with torch.no_grad():
        u_next, log_prob_next = actor.sample(batch.x_next)
        v_next = target_critic.min_q(batch.x_next, u_next) - alpha * log_prob_next
        q_target = batch.r + gamma * (1 - batch.terminated) * v_next
    q1, q2 = critic(batch.x, batch.u)
    return F.mse_loss(q1, q_target) + F.mse_loss(q2, q_target)


def expanded_target_critic_loss(critic: DoubleQCritic, target_critic: DoubleQCritic, actor: TanhGaussianActor,
                                world_model: WorldModel, batch: Transitions, *, alpha: torch.Tensor, gamma: float,
                                horizon: int) -> torch.Tensor:
    """critic_mve="target": eq. 5 against `expanded_q_target`, summed over both critics."""
    q_target = expanded_q_target(target_critic, actor, world_model, batch, alpha=alpha, gamma=gamma, horizon=horizon)
    q1, q2 = critic(batch.x, batch.u)
    return F.mse_loss(q1, q_target) + F.mse_loss(q2, q_target)


@torch.no_grad()
def expanded_q_target(target_critic: DoubleQCritic, actor: TanhGaussianActor, world_model: WorldModel,
                      batch: Transitions, *, alpha: torch.Tensor, gamma: float, horizon: int) -> torch.Tensor:
    """Eq. 6's target with the soft value of x' replaced by eq. 10's H-step expansion through the model (the
    official critic_target_mve), the target critic at its end: r + gamma (1 - d) V_{0:H}(x'). H = 0 is eq. 6."""
    rollout = policy_rollout(actor, world_model, batch.x_next, horizon)
    v_next = expanded_value(rollout, target_critic.min_q(rollout.states[-1], rollout.actions[-1]), alpha, gamma)
    return batch.r + gamma * (1 - batch.terminated) * v_next


@dataclass
class MVEBatch:
    """The pairs the MVE critic is fit on, concatenated over t = 0 .. H: (x_t, u_t), target y_t, weight w_t."""
    x: torch.Tensor
    u: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor


def mve_critic_loss(critic: DoubleQCritic, target_critic: DoubleQCritic, actor: TanhGaussianActor,
                    world_model: WorldModel, batch: Transitions, *, alpha: torch.Tensor, gamma: float,
                    horizon: int) -> torch.Tensor:
    """critic_mve="full", the MVE critic update of Feinberg et al. (2018) on `mve_batch`:
    sum_i mean_{t, batch} w_t (Q_i(x_t, u_t) - y_t)^2 (the official update_critic_mve's weighting and mean)."""
    b = mve_batch(target_critic, actor, world_model, batch, alpha=alpha, gamma=gamma, horizon=horizon)
    q1, q2 = critic(b.x, b.u)
    return (b.weights * (q1 - b.targets).pow(2)).mean() + (b.weights * (q2 - b.targets).pow(2)).mean()


@torch.no_grad()
def mve_batch(target_critic: DoubleQCritic, actor: TanhGaussianActor, world_model: WorldModel, batch: Transitions,
              *, alpha: torch.Tensor, gamma: float, horizon: int) -> MVEBatch:
    """From the real (x_0, u_0, r_0, d_0) and an H-step model rollout from x_1 = x' (u_t ~ pi(x_t), x_2 .. x_{H+1}
    predicted): the real pair and every imagined pair (x_t, u_t), t = 1 .. H, each with its TD-(H+1-t) target
    from the same rollout, the target critic at (x_{H+1}, u_{H+1}) (`mve_targets`), and the weight
    w_t = prod_{k<t} (1 - d_k) (w_0 = 1), the probability that the rollout reaches x_t."""
    rollout = policy_rollout(actor, world_model, batch.x_next, horizon)
    not_done = [1 - batch.terminated] + rollout.not_done
    targets = mve_targets([batch.r] + rollout.rewards, not_done, rollout.log_probs,
                          target_critic.min_q(rollout.states[-1], rollout.actions[-1]), alpha, gamma)
    weights = torch.cumprod(torch.stack([torch.ones_like(batch.r)] + not_done[:-1]), dim=0).flatten()
    return MVEBatch(torch.cat([batch.x] + rollout.states[:-1]), torch.cat([batch.u] + rollout.actions[:-1]), targets,
                    weights)


def mve_targets(rewards: list[torch.Tensor], not_done: list[torch.Tensor], next_log_probs: list[torch.Tensor],
                q_end: torch.Tensor, alpha: torch.Tensor, gamma: float) -> torch.Tensor:
    """The soft TD-(K-t) targets of the pairs t = 0 .. K-1 of a trajectory of K steps, concatenated over t:

    y_t = r_t + gamma (1 - d_t) (y_{t+1} - alpha log pi_{t+1}),  y_K = q_end = min(Q1_bar, Q2_bar)(x_K, u_K),
    i.e. y_t = sum_{t<=k<K} gamma^{k-t} (c_{t,k} r_k - gamma alpha c_{t,k+1} log pi_{k+1}) + gamma^{K-t} c_{t,K} q_end
    with c_{t,k} = prod_{t<=j<k} (1 - d_j): soft rewards and not-done products along the trajectory.
    `next_log_probs[t]` is log pi_{t+1} = log pi(u_{t+1}|x_{t+1}).
    """
    y, targets = q_end, []
    for t in reversed(range(len(rewards))):
        y = rewards[t] + gamma * not_done[t] * (y - alpha * next_log_probs[t])
        targets.append(y)
    return torch.cat(targets[::-1])


def reward_loss(world_model: WorldModel, x: torch.Tensor, u: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Eq. 12: ||r(x, u) - r||^2."""
    return F.mse_loss(world_model.predicted_reward(x, u), r)


def termination_loss(world_model: WorldModel, x: torch.Tensor, u: torch.Tensor, terminated: torch.Tensor,
                     balance_classes: bool) -> torch.Tensor:
    """Eq. 13: Bernoulli negative log-likelihood in logit space, targets = terminations that are not time limits.

    With `balance_classes` the positive class is weighted by #not-done / #done in the batch (official code).
    """
    logit = world_model.termination_logit(x, u)
    pos_weight = None
    if balance_classes:
        num_done = terminated.sum()
        pos_weight = torch.where(num_done > 0, (terminated.numel() - num_done) / num_done.clamp(min=1), 1.0)
    return F.binary_cross_entropy_with_logits(logit, terminated, pos_weight=pos_weight)


def dynamics_loss(dynamics: nn.Module, states: torch.Tensor, actions: torch.Tensor,
                  valid: torch.Tensor) -> torch.Tensor:
    """Eq. 11: E ||f(x_1, u_{1:L-1}) - x_{2:L}||^2 over sequences that never cross an episode end.

    `states` is (L, B, obs_dim), `actions` (L-1, B, act_dim); `valid` (B,) masks out any sequence the
    sampler could not place inside one episode. The expectation is the official code's mean over time, batch
    and state dimensions (F.mse_loss over the valid sequences), the scale its gradient clip of 1.0 was set
    for; eq. 11's squared norm is (L-1) obs_dim times this (docs/fidelity.md).
    """
    error = squared_errors(dynamics, states, actions).mean(dim=(0, 2))
    return (error * valid).sum() / valid.sum().clamp(min=1)


def ensemble_dynamics_losses(dynamics: nn.Module, x: torch.Tensor, u: torch.Tensor,
                             x_next: torch.Tensor) -> torch.Tensor:
    """Eq. 11 with L = 2 for each member of the MLP ensemble on its own batch: ||f_e(x, u) - x'||^2 as a mean over
    the batch and state dimensions, (E,) from x, x' (E, B, obs_dim) and u (E, B, act_dim). Their sum is the
    ensemble's training loss, whose gradient on each member is that member's own loss's."""
    return (dynamics(x, u) - x_next).pow(2).mean(dim=(1, 2))


def multi_step_errors(dynamics: nn.Module, states: torch.Tensor, actions: torch.Tensor,
                      valid: torch.Tensor) -> torch.Tensor:
    """Eq. 11's squared error per unroll step (L-1,), as a mean over state dimensions and valid sequences; its
    mean over the steps is `dynamics_loss`."""
    error = squared_errors(dynamics, states, actions).mean(dim=2)
    return (error * valid).sum(dim=1) / valid.sum().clamp(min=1)


def squared_errors(dynamics: nn.Module, states: torch.Tensor,
                   actions: torch.Tensor) -> torch.Tensor:
    """(f(x_1, u_{1:L-1}) - x_{2:L})^2 elementwise, (L-1, B, obs_dim)."""
    return (dynamics.unroll(states[0], actions) - states[1:]).pow(2)
