"""The losses of Algorithm 1, each beside its equation. All inputs are normalized observations."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from algorithms.sac_svg.actor import TanhGaussianActor
from algorithms.sac_svg.critic import DoubleQCritic
from algorithms.sac_svg.world_model import GRUDynamics, WorldModel


@dataclass
class ActorLoss:
    loss: torch.Tensor
    log_prob: torch.Tensor  # log pi(u_0|x_0) at the real replay state, for eq. 9


def svg_actor_loss(actor: TanhGaussianActor, critic: DoubleQCritic, world_model: WorldModel, x: torch.Tensor,
                   alpha: torch.Tensor, gamma: float, horizon: int, per_term_scale: bool) -> ActorLoss:
    """Eq. 10: J = E_x[-V_{0:H}(x)], the entropy-regularized value expansion through the learned model.

    V_{0:H} = sum_{t<H} gamma^t (c_t r(x_t, u_t) - alpha log pi(u_t|x_t))
              + gamma^H (c_H min(Q1, Q2)(x_H, u_H) - alpha log pi(u_H|x_H)),
    with c_t = prod_{k<t} (1 - d(x_k, u_k)) the probability of not having terminated before step t.
    H = 0 gives SAC's actor loss (eq. 8): E[alpha log pi(u|x) - min Q(x, u)].
    """
    h = None  # h_1 = 0
    alive = torch.ones_like(x[:, 0])
    value = torch.zeros_like(alive)
    for t in range(horizon + 1):
        u, log_prob = actor.sample(x)
        if t == 0:
            first_log_prob = log_prob
        if t == horizon:
            value = value + gamma**t * (alive * critic.min_q(x, u) - alpha * log_prob)
            break
        reward, done_logit = world_model.reward_and_termination_logit(x, u)
        value = value + gamma**t * (alive * reward - alpha * log_prob)
        x, h = world_model.dynamics.step(x, u, h)
        alive = alive * (1 - torch.sigmoid(done_logit))
    loss = -value.mean()
    # The official code divides by the number of terms (H + 1); the paper's eq. 10 does not.
    return ActorLoss(loss / (horizon + 1) if per_term_scale else loss, first_log_prob)


def alpha_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """Eq. 9: J_alpha = E[-alpha log pi(u|x) - alpha H_target], log pi held fixed."""
    return (log_alpha.exp() * (-log_prob.detach() - target_entropy)).mean()


def critic_loss(critic: DoubleQCritic, target_critic: DoubleQCritic, actor: TanhGaussianActor,
                x: torch.Tensor, u: torch.Tensor, r: torch.Tensor, x_next: torch.Tensor,
                terminated: torch.Tensor, alpha: torch.Tensor, gamma: float) -> torch.Tensor:
    """Eq. 5-7: (Q_i(x, u) - r - gamma (1 - d) V_target(x'))^2 summed over both critics.

    V_target(x') = min(Q1_bar, Q2_bar)(x', u') - alpha log pi(u'|x'), u' ~ pi(x'); d is a real termination only
    (a time limit bootstraps).
    """
    with torch.no_grad():
        u_next, log_prob_next = actor.sample(x_next)
        v_next = target_critic.min_q(x_next, u_next) - alpha * log_prob_next
        q_target = r + gamma * (1 - terminated) * v_next
    q1, q2 = critic(x, u)
    return F.mse_loss(q1, q_target) + F.mse_loss(q2, q_target)


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


def dynamics_loss(dynamics: GRUDynamics, states: torch.Tensor, actions: torch.Tensor,
                  valid: torch.Tensor) -> torch.Tensor:
    """Eq. 11: E ||f(x_1, u_{1:L-1}) - x_{2:L}||^2 over sequences that never cross an episode end.

    `states` is (L, B, obs_dim), `actions` (L-1, B, act_dim); `valid` (B,) masks out any sequence the
    sampler could not place inside one episode. The expectation is the official code's mean over time, batch
    and state dimensions (F.mse_loss over the valid sequences), the scale its gradient clip of 1.0 was set
    for; eq. 11's squared norm is (L-1) obs_dim times this (docs/fidelity.md).
    """
    return multi_step_errors(dynamics, states, actions, valid).mean()


def multi_step_errors(dynamics: GRUDynamics, states: torch.Tensor, actions: torch.Tensor,
                      valid: torch.Tensor) -> torch.Tensor:
    """Eq. 11's squared error per unroll step (L-1,), as a mean over state dimensions and valid sequences."""
    error = (dynamics.unroll(states[0], actions) - states[1:]).pow(2).mean(dim=2)
    return (error * valid).sum(dim=1) / valid.sum().clamp(min=1)
