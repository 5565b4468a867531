"""The losses of Algorithm 1 against independent computations."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, TanhTransform, TransformedDistribution

from algorithms.sac_svg import losses
from algorithms.sac_svg.actor import TanhGaussianActor
from algorithms.sac_svg.critic import DoubleQCritic
from algorithms.sac_svg.gru import GRUDynamics, gru_cell
from algorithms.sac_svg.networks import mlp
from algorithms.sac_svg.temperature import target_entropy
from algorithms.sac_svg.world_model import WorldModel

OBS, ACT, B = 5, 2, 64
torch.set_num_threads(1)  # small networks; two threads on two shared cores only contend


@pytest.fixture
def nets():
    torch.manual_seed(0)
    actor = TanhGaussianActor(OBS, ACT, 32, 2, -5.0, 2.0)
    critic = DoubleQCritic(OBS, ACT, 32, 2)
    world_model = WorldModel(OBS, ACT, 32, 2, GRUDynamics(OBS, ACT, 32, 2, 1, 16, 2, detach_feedback=False))
    return actor, critic, world_model


def independent_sac_actor_loss(actor, critic, x, alpha):
    """SAC's eq. 8 written with torch.distributions, from the same noise."""
    mu, log_std = actor(x)
    pi = TransformedDistribution(Normal(mu, log_std.exp()), [TanhTransform(cache_size=1)])
    eps = torch.randn_like(mu)
    u = torch.tanh(mu + log_std.exp() * eps)
    log_prob = pi.log_prob(u).sum(-1)
    q = torch.minimum(critic.q(0, torch.cat([x, u], -1)), critic.q(1, torch.cat([x, u], -1)))
    return (alpha * log_prob - q).mean(), log_prob


@pytest.mark.parametrize("batched", [True, False])
def test_double_q_is_two_separate_mlps_evaluated_together(batched):
    """The stacked critic starts as, and computes, two separate MLPs built from the same random numbers:
    the same Q values and the same gradients, with one batched product per layer or two."""
    torch.manual_seed(3)
    critic = DoubleQCritic(OBS, ACT, 32, 2, batched=batched)
    torch.manual_seed(3)
    separate = [mlp(OBS + ACT, 32, 1, 2) for _ in range(2)]
    x, u = torch.randn(B, OBS), torch.randn(B, ACT)
    stacked_q = critic(x, u)
    separate_q = [net(torch.cat([x, u], -1)).squeeze(-1) for net in separate]
    for ours, theirs in zip(stacked_q, separate_q):
        torch.testing.assert_close(ours, theirs)
    ours = torch.autograd.grad(sum(q.square().mean() for q in stacked_q), list(critic.parameters()))
    theirs = torch.autograd.grad(sum(q.square().mean() for q in separate_q),
                                 [p for net in separate for p in net.parameters()])
    per_layer = [(theirs[2 * k], theirs[2 * k + 1], theirs[6 + 2 * k], theirs[7 + 2 * k]) for k in range(3)]
    for k, (w1, b1, w2, b2) in enumerate(per_layer):  # ours: weights (2, in, out) then biases (2, 1, out)
        torch.testing.assert_close(ours[k], torch.stack([w1.t(), w2.t()]))
        torch.testing.assert_close(ours[3 + k], torch.stack([b1, b2]).unsqueeze(1))


def test_h0_actor_and_alpha_losses_equal_sac(nets):
    actor, critic, world_model = nets
    x, alpha = torch.randn(B, OBS), torch.tensor(0.3)
    torch.manual_seed(1)
    ours = losses.svg_actor_loss(actor, critic, world_model, x, alpha, gamma=0.99, horizon=0, per_term_scale=False)
    torch.manual_seed(1)
    reference, reference_log_prob = independent_sac_actor_loss(actor, critic, x, alpha)
    assert ours.loss.item() == pytest.approx(reference.item(), rel=1e-5, abs=1e-5)
    torch.testing.assert_close(ours.log_prob, reference_log_prob, rtol=1e-4, atol=1e-4)
    ours_grad = torch.autograd.grad(ours.loss, list(actor.parameters()))
    reference_grad = torch.autograd.grad(reference, list(actor.parameters()))
    for g, h in zip(ours_grad, reference_grad):
        torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-5)
    # Eq. 9 by hand: alpha (-log pi - H_target), averaged.
    log_alpha = torch.tensor(math.log(0.3))
    expected = (0.3 * (-reference_log_prob - (-1.5))).mean()
    assert losses.alpha_loss(log_alpha, ours.log_prob, -1.5).item() == pytest.approx(expected.item(), rel=1e-5)


def test_svg_actor_loss_h2_matches_hand_rollout(nets):
    """Eq. 10 with H = 2, unrolled by hand: rewards and Q weighted by the not-done product, discounted."""
    actor, critic, world_model = nets
    x0, alpha, gamma = torch.randn(B, OBS), torch.tensor(0.2), 0.9
    torch.manual_seed(3)
    ours = losses.svg_actor_loss(actor, critic, world_model, x0, alpha, gamma, horizon=2, per_term_scale=False)
    torch.manual_seed(3)
    u0, lp0 = actor.sample(x0)
    r0, d0 = world_model.reward_and_termination_logit(x0, u0)
    x1, h = world_model.dynamics.step(x0, u0, None)  # h_1 = 0
    u1, lp1 = actor.sample(x1)
    r1, d1 = world_model.reward_and_termination_logit(x1, u1)
    x2, _ = world_model.dynamics.step(x1, u1, h)
    u2, lp2 = actor.sample(x2)
    c1 = 1 - torch.sigmoid(d0)
    c2 = c1 * (1 - torch.sigmoid(d1))
    value = (r0 - alpha * lp0) + gamma * (c1 * r1 - alpha * lp1) + gamma**2 * (c2 * critic.min_q(x2, u2) - alpha * lp2)
    assert ours.loss.item() == pytest.approx(-value.mean().item(), rel=1e-5)
    torch.manual_seed(3)
    scaled = losses.svg_actor_loss(actor, critic, world_model, x0, alpha, gamma, horizon=2, per_term_scale=True)
    assert scaled.loss.item() == pytest.approx(ours.loss.item() / 3, rel=1e-6)  # the official 1 / (H + 1)


def test_svg_gradient_flows_through_the_model(nets):
    actor, critic, world_model = nets
    x = torch.randn(B, OBS)
    loss = losses.svg_actor_loss(actor, critic, world_model, x, torch.tensor(0.1), 0.99, 2, False).loss
    dynamics_params = list(world_model.dynamics.parameters())
    grads = torch.autograd.grad(loss, dynamics_params + list(actor.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads[:len(dynamics_params)])
    assert all(g is not None and torch.isfinite(g).all() for g in grads[len(dynamics_params):])


def test_critic_loss_by_hand(nets):
    actor, critic, _ = nets
    target = DoubleQCritic(OBS, ACT, 32, 2)
    x, u, x2 = torch.randn(B, OBS), torch.rand(B, ACT) * 2 - 1, torch.randn(B, OBS)
    r, done = torch.randn(B), (torch.rand(B) < 0.2).float()
    alpha, gamma = torch.tensor(0.5), 0.99
    torch.manual_seed(7)
    ours = losses.critic_loss(critic, target, actor, losses.Transitions(x, u, r, x2, done), alpha=alpha, gamma=gamma)
    torch.manual_seed(7)
    u2, lp2 = actor.sample(x2)
    y = r + gamma * (1 - done) * (torch.minimum(*target(x2, u2)) - alpha * lp2)
    q1, q2 = critic(x, u)
    expected = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()
    assert ours.item() == pytest.approx(expected.item(), rel=1e-5)


def test_reward_and_termination_losses_by_hand(nets):
    _, _, world_model = nets
    x, u, r = torch.randn(B, OBS), torch.rand(B, ACT), torch.randn(B)
    done = torch.zeros(B)
    done[:4] = 1
    reward, logit = world_model.reward_and_termination_logit(x, u)
    assert losses.reward_loss(world_model, x, u, r).item() == pytest.approx(((reward - r) ** 2).mean().item(), rel=1e-5)
    p = torch.sigmoid(logit)
    nll = -(done * torch.log(p) + (1 - done) * torch.log(1 - p))
    assert losses.termination_loss(world_model, x, u, done, False).item() == pytest.approx(nll.mean().item(), rel=1e-4)
    weighted = -(60 / 4 * done * torch.log(p) + (1 - done) * torch.log(1 - p))  # #not-done / #done = 60/4
    assert losses.termination_loss(world_model, x, u, done, True).item() == pytest.approx(weighted.mean().item(),
                                                                                          rel=1e-4)


def test_dynamics_loss_by_hand_and_mask(nets):
    _, _, world_model = nets
    states, actions = torch.randn(3, B, OBS), torch.rand(2, B, ACT)
    valid = torch.ones(B)
    valid[::2] = 0
    predicted = world_model.dynamics.unroll(states[0], actions)
    per_sequence = ((predicted - states[1:]) ** 2).mean(dim=(0, 2))  # over time and state dimensions
    expected = per_sequence[1::2].mean()
    ours = losses.dynamics_loss(world_model.dynamics, states, actions, valid)
    assert ours.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("step, expected", [(0, 1.0), (500, (1 - (-4)) * 0.5**2 + (-4)), (1000, -4.0)])
def test_target_entropy_eq14(step, expected):
    assert target_entropy(step, 1000, init=1.0, final=-4.0, beta=2.0) == pytest.approx(expected)


def test_target_entropy_constant_without_beta():
    """beta = None: H_final at every step, not H_init and not a schedule between them."""
    assert {target_entropy(t, 1000, -1.0, -3.0, None) for t in (0, 500, 1000)} == {-3.0}


def test_dynamics_learns_a_linear_system():
    """Eq. 11 on x' = A x + B u: the multi-step error falls far below that of predicting no change."""
    torch.manual_seed(0)
    n, m, length = 4, 2, 4
    A = torch.linalg.qr(torch.randn(n, n))[0] * 0.9
    Bm = torch.randn(n, m) * 0.5

    def batch(size):
        xs, us = [torch.randn(size, n)], torch.rand(length - 1, size, m) * 2 - 1
        for u in us:
            xs.append(xs[-1] @ A.T + u @ Bm.T)
        return torch.stack(xs), us

    model = GRUDynamics(n, m, 64, 2, 0, 64, 2, detach_feedback=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(600):
        states, actions = batch(256)
        loss = losses.dynamics_loss(model, states, actions, torch.ones(256))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    states, actions = batch(1024)
    with torch.no_grad():
        error = F.mse_loss(model.unroll(states[0], actions), states[1:]).item()
    baseline = F.mse_loss(states[:1].expand_as(states[1:]), states[1:]).item()
    assert error < 0.02 * baseline, (error, baseline)


def test_gru_steps_equal_torch_gru(nets):
    """The model's GRU step (with the h_1 = 0 shortcut) is torch.nn.GRU over the same weights."""
    _, _, world_model = nets
    dynamics = world_model.dynamics
    z = [torch.randn(B, 16) for _ in range(3)]
    expected, _ = dynamics.gru(torch.stack(z))  # h_0 = 0
    h = None
    for t, z_t in enumerate(z):
        h_layers, state = [], z_t
        for layer in range(dynamics.gru.num_layers):
            state = gru_cell(state, None if h is None else h[layer], *dynamics.gru.all_weights[layer])
            h_layers.append(state)
        h = h_layers
        torch.testing.assert_close(h[-1], expected[t], rtol=1e-5, atol=1e-6)


def test_bfloat16_world_model_tracks_float32_gradients():
    """world_model_dtype='bfloat16' optimises the same objectives: its gradients point where float32's do."""
    torch.manual_seed(0)
    actor = TanhGaussianActor(17, 6, 256, 2, -5.0, 2.0)
    critic = DoubleQCritic(17, 6, 256, 2)
    world_model = WorldModel(17, 6, 256, 2, GRUDynamics(17, 6, 256, 2, 2, 256, 2, detach_feedback=False))
    x, states, actions = torch.randn(512, 17), torch.randn(3, 512, 17), torch.rand(2, 512, 6) * 2 - 1

    def gradients(dtype):
        world_model.matmul_dtype = world_model.dynamics.matmul_dtype = dtype
        torch.manual_seed(1)
        actor_loss = losses.svg_actor_loss(actor, critic, world_model, x, torch.tensor(0.1), 0.99, 2, False).loss
        model_loss = losses.dynamics_loss(world_model.dynamics, states, actions, torch.ones(512))
        actor_grad = torch.autograd.grad(actor_loss, list(actor.parameters()))
        model_grad = torch.autograd.grad(model_loss, list(world_model.dynamics.parameters()))
        return [torch.cat([g.flatten().float() for g in grads]) for grads in (actor_grad, model_grad)]

    for full, half in zip(gradients("float32"), gradients("bfloat16")):
        assert not torch.equal(full, half)  # bfloat16 really ran
        assert F.cosine_similarity(full, half, dim=0) > 0.99
