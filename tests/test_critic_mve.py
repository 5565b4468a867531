"""Critic value expansion (critic_mve = target | full) and the MLP-ensemble dynamics, against hand computations,
a known linear system, and the learner that picks them by config field."""
import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithms.sac_svg import SACSVGConfig, losses
from algorithms.sac_svg.actor import TanhGaussianActor
from algorithms.sac_svg.critic import DoubleQCritic
from algorithms.sac_svg.ensemble import MLPEnsembleDynamics
from algorithms.sac_svg.graphs import NoHostSync
from algorithms.sac_svg.gru import GRUDynamics
from algorithms.sac_svg.metrics import LOSS_CRITIC, LOSS_DYNAMICS, MODEL_ERROR
from algorithms.sac_svg.random_policy import random_transitions
from algorithms.sac_svg.world_model import WorldModel
from tests.conftest import assert_same_run, fastpath_learner, run_updates

OBS, ACT, B, GAMMA = 3, 2, 16, 0.9
ALPHA = torch.tensor(0.2)
torch.set_num_threads(1)


@pytest.fixture
def nets():
    torch.manual_seed(0)
    actor = TanhGaussianActor(OBS, ACT, 16, 1, -5.0, 2.0)
    critic, target_critic = DoubleQCritic(OBS, ACT, 16, 1), DoubleQCritic(OBS, ACT, 16, 1)
    world_model = WorldModel(OBS, ACT, 16, 1, GRUDynamics(OBS, ACT, 16, 1, 1, 8, 1, detach_feedback=False))
    with torch.no_grad():
        world_model.termination[-2].bias.fill_(-1.0)  # not-done probabilities well inside (0, 1)
    return actor, critic, target_critic, world_model


@pytest.fixture
def batch():
    torch.manual_seed(1)
    terminated = torch.zeros(B)
    terminated[::4] = 1.0  # some real terminations
    return losses.Transitions(x=torch.randn(B, OBS), u=torch.rand(B, ACT) * 2 - 1, r=torch.randn(B),
                              x_next=torch.randn(B, OBS), terminated=terminated)


def hand_rollout(actor, world_model, x, horizon):
    """x_t, u_t, log pi_t for t = 0 .. H and r_t, c_t = 1 - sigmoid(d_t) for t < H, drawn in the rollout's order."""
    xs, us, lps, rs, cs, h = [], [], [], [], [], None
    for t in range(horizon + 1):
        u, lp = actor.sample(x)
        xs.append(x), us.append(u), lps.append(lp)
        if t < horizon:
            rs.append(world_model.predicted_reward(x, u))
            cs.append(1 - torch.sigmoid(world_model.termination_logit(x, u)))
            x, h = world_model.dynamics.step(x, u, h)
    return xs, us, lps, rs, cs


def hand_expanded_value(qbar, xs, us, lps, rs, cs, horizon):
    """Eq. 10's V_{0:H}, written out term by term for H = 0, 1, 2."""
    a, g = ALPHA, GAMMA
    end = qbar.min_q(xs[-1], us[-1])
    if horizon == 0:
        return end - a * lps[0]
    if horizon == 1:
        return (rs[0] - a * lps[0]) + g * (cs[0] * end - a * lps[1])
    return (rs[0] - a * lps[0]) + g * (cs[0] * rs[1] - a * lps[1]) + g**2 * (cs[0] * cs[1] * end - a * lps[2])


@pytest.mark.parametrize("dynamics_model", ["gru", "mlp_ensemble"])
def test_target_with_critic_horizon_zero_is_eq5_exactly(nets, batch, dynamics_model):
    actor, critic, target_critic, _ = nets
    dynamics = {"gru": lambda: GRUDynamics(OBS, ACT, 16, 1, 1, 8, 1, detach_feedback=False),
                "mlp_ensemble": lambda: MLPEnsembleDynamics(OBS, ACT, 16, 1, ensemble_size=5)}[dynamics_model]()
    world_model = WorldModel(OBS, ACT, 16, 1, dynamics)
    torch.manual_seed(5)
    eq5 = losses.critic_loss(critic, target_critic, actor, batch, alpha=ALPHA, gamma=GAMMA)
    torch.manual_seed(5)
    ours = losses.expanded_target_critic_loss(critic, target_critic, actor, world_model, batch, alpha=ALPHA,
                                              gamma=GAMMA, horizon=0)
    assert torch.equal(ours, eq5)


@pytest.mark.parametrize("horizon", [1, 2])
def test_target_critic_loss_by_hand(nets, batch, horizon):
    """y = r + gamma (1 - d) V_{0:H}(x'), V from an H-step rollout with the target critic at its end."""
    actor, critic, target_critic, world_model = nets
    x, u, r, x_next, d = batch
    torch.manual_seed(7)
    ours = losses.expanded_target_critic_loss(critic, target_critic, actor, world_model, batch, alpha=ALPHA,
                                              gamma=GAMMA, horizon=horizon)
    torch.manual_seed(7)
    with torch.no_grad():
        v = hand_expanded_value(target_critic, *hand_rollout(actor, world_model, x_next, horizon), horizon)
        y = r + GAMMA * (1 - d) * v
    q1, q2 = critic(x, u)
    torch.testing.assert_close(ours, F.mse_loss(q1, y) + F.mse_loss(q2, y))
    assert not torch.allclose(ours, losses.critic_loss(critic, target_critic, actor, batch, alpha=ALPHA, gamma=GAMMA))


@pytest.mark.parametrize("horizon", [1, 2])
def test_full_mve_critic_loss_by_hand(nets, batch, horizon):
    """Feinberg et al.'s MVE: the real pair and each imagined pair of the rollout from x' against its TD-k target
    (soft rewards, not-done products, the target critic at the end), weighted by the chance of reaching it."""
    actor, critic, target_critic, world_model = nets
    x, u, r, x_next, d = batch
    a, g = ALPHA, GAMMA
    torch.manual_seed(9)
    ours = losses.mve_critic_loss(critic, target_critic, actor, world_model, batch, alpha=a, gamma=g, horizon=horizon)
    torch.manual_seed(9)
    with torch.no_grad():
        xs, us, lps, rs, cs = hand_rollout(actor, world_model, x_next, horizon)
        q_end = target_critic.min_q(xs[-1], us[-1])
        nd = 1 - d
        if horizon == 1:
            targets = [r + g * nd * (rs[0] - a * lps[0]) + g**2 * nd * cs[0] * (q_end - a * lps[1]),
                       rs[0] + g * cs[0] * (q_end - a * lps[1])]
            weights = [torch.ones(B), nd]
        else:
            targets = [r + g * nd * (rs[0] - a * lps[0]) + g**2 * nd * cs[0] * (rs[1] - a * lps[1])
                       + g**3 * nd * cs[0] * cs[1] * (q_end - a * lps[2]),
                       rs[0] + g * cs[0] * (rs[1] - a * lps[1]) + g**2 * cs[0] * cs[1] * (q_end - a * lps[2]),
                       rs[1] + g * cs[1] * (q_end - a * lps[2])]
            weights = [torch.ones(B), nd, nd * cs[0]]
    pairs = [(x, u)] + list(zip(xs[:-1], us[:-1]))
    hand = 0
    for i in range(2):
        errors = [w * (critic(xt, ut)[i] - y).pow(2) for (xt, ut), y, w in zip(pairs, targets, weights)]
        hand = hand + torch.cat(errors).mean()
    torch.testing.assert_close(ours, hand)


class LinearSystem:
    """x' = A x + B u, r = c.x + e.u, never terminating; the exact models of it in a WorldModel."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.A = 0.5 * rng.standard_normal((OBS, OBS))
        self.B = rng.standard_normal((OBS, ACT))
        self.c, self.e = rng.standard_normal(OBS), rng.standard_normal(ACT)

    def exact_world_model(self) -> WorldModel:
        """A 2-member ensemble of linear delta models (depth 0), both exact; linear reward; termination logit -100."""
        model = WorldModel(OBS, ACT, 8, 0, MLPEnsembleDynamics(OBS, ACT, 8, 0, ensemble_size=2))
        delta = torch.tensor(np.concatenate([(self.A - np.eye(OBS)).T, self.B.T]), dtype=torch.float32)
        with torch.no_grad():
            model.dynamics.members.weights[0].copy_(delta.expand(2, *delta.shape))
            model.dynamics.members.biases[0].zero_()
            model.reward[0].weight.copy_(torch.tensor(np.r_[self.c, self.e], dtype=torch.float32)[None])
            model.reward[0].bias.zero_()
            model.termination[0].weight.zero_()
            model.termination[0].bias.fill_(-100.0)
        return model


@pytest.mark.parametrize("horizon", [1, 3])
def test_expanded_targets_equal_the_true_td_k_values_of_a_known_linear_system(nets, batch, horizon):
    """With exact dynamics, reward and termination models, each target is the true soft TD-k value of the
    trajectory the policy's actions drive the real system along (float64 there)."""
    actor, _, target_critic, _ = nets
    system = LinearSystem()
    world_model = system.exact_world_model()
    batch = batch._replace(terminated=torch.zeros(B))
    x, u, r, x_next, d = batch
    torch.manual_seed(11)
    full = losses.mve_batch(target_critic, actor, world_model, batch, alpha=ALPHA, gamma=GAMMA, horizon=horizon)
    torch.manual_seed(11)
    target = losses.expanded_q_target(target_critic, actor, world_model, batch, alpha=ALPHA, gamma=GAMMA,
                                      horizon=horizon)
    torch.manual_seed(11)
    with torch.no_grad():
        state, states, rewards, log_probs = x_next.double().numpy(), [], [], []
        for t in range(horizon + 1):  # the real system, driven by the policy's actions
            action, lp = actor.sample(torch.tensor(state, dtype=torch.float32))
            if t == 0 and horizon > 0:
                torch.randint(2, (B,))  # the random numbers of the model rollout's member draw (both are exact)
            action = action.double().numpy()
            states.append(state), log_probs.append(lp.double().numpy())
            rewards.append(state @ system.c + action @ system.e)
            state = state @ system.A.T + action @ system.B.T
        q_end = target_critic.min_q(*(torch.tensor(v, dtype=torch.float32) for v in (states[-1], action)))
        q_end = q_end.double().numpy()
    a = ALPHA.item()
    true = []
    for t in range(horizon):  # TD-(H-t) from imagined pair t: sum of soft rewards, then gamma^(H-t) V(x_H)
        k = horizon - t
        soft = sum(GAMMA**j * rewards[t + j] - a * GAMMA**(j + 1) * log_probs[t + j + 1] for j in range(k))
        true.append(soft + GAMMA**k * q_end)
    first = r.double().numpy() + GAMMA * (sum(GAMMA**j * rewards[j] - a * GAMMA**j * log_probs[j]
                                               for j in range(horizon)) + GAMMA**horizon * (q_end - a * log_probs[-1]))
    np.testing.assert_allclose(target.double().numpy(), first, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(full.targets.double().numpy(), np.concatenate([first] + true), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(full.weights.numpy(), 1.0)  # never terminating: every pair counts fully


@pytest.mark.parametrize("loss", ["expanded_target_critic_loss", "mve_critic_loss"])
def test_gradients_of_an_expanded_critic_loss_reach_only_the_critic(nets, batch, loss):
    actor, critic, target_critic, world_model = nets
    getattr(losses, loss)(critic, target_critic, actor, world_model, batch, alpha=ALPHA, gamma=GAMMA,
                          horizon=2).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())
    for others in (actor, target_critic, world_model):
        assert all(p.grad is None for p in others.parameters())


# --- the MLP ensemble -----------------------------------------------------------------------------------------

def test_ensemble_evaluates_every_member_as_its_own_mlp_steps_each_row_with_its_member_and_predicts_their_mean():
    torch.manual_seed(0)
    ensemble = MLPEnsembleDynamics(OBS, ACT, 16, 2, ensemble_size=3)
    x, u = torch.randn(3, B, OBS), torch.randn(3, B, ACT)
    every = ensemble(x, u)
    for e in range(3):  # one batched product per layer == each member alone
        torch.testing.assert_close(every[e], x[e] + ensemble.members.member(e, torch.cat([x[e], u[e]], -1)))
    members = torch.randint(3, (B,))
    stepped, kept = ensemble.step(x[0], u[0], members)
    assert torch.equal(kept, members)
    for b in range(B):
        xu = torch.cat([x[0, b:b + 1], u[0, b:b + 1]], -1)
        torch.testing.assert_close(stepped[b], x[0, b] + ensemble.members.member(int(members[b]), xu)[0])
    torch.manual_seed(3)
    drawn = ensemble.step(x[0], u[0], None)[1]
    assert drawn.shape == (B,) and set(drawn.tolist()) == {0, 1, 2}  # a member drawn per row
    actions = torch.randn(4, B, ACT)
    trajectories = ensemble.member_unrolls(x[0], actions)  # every member on every row, on its own
    for e in range(3):
        state = x[0]
        for t in range(4):
            state = ensemble.step(state, actions[t], torch.full((B,), e))[0]
            torch.testing.assert_close(trajectories[e, t], state)
    torch.testing.assert_close(ensemble.unroll(x[0], actions), trajectories.mean(dim=0))  # the ensemble's prediction


def test_one_members_loss_moves_no_other_members_weights():
    torch.manual_seed(0)
    ensemble = MLPEnsembleDynamics(OBS, ACT, 16, 2, ensemble_size=4)
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=1e-2)
    x, u, x_next = torch.randn(4, B, OBS), torch.randn(4, B, ACT), torch.randn(4, B, OBS)
    before = [p.detach().clone() for p in ensemble.parameters()]
    losses.ensemble_dynamics_losses(ensemble, x, u, x_next)[2].backward()
    optimizer.step()  # one Adam over all members, as the learner's
    for old, new in zip(before, ensemble.parameters()):
        assert not torch.equal(old[2], new[2])
        for e in (0, 1, 3):
            assert torch.equal(old[e], new[e])
    # The sum's gradient on each member is that member's own loss's.
    total = torch.autograd.grad(losses.ensemble_dynamics_losses(ensemble, x, u, x_next).sum(),
                                list(ensemble.parameters()))
    alone = torch.autograd.grad(losses.ensemble_dynamics_losses(ensemble, x, u, x_next)[1],
                                list(ensemble.parameters()))
    for g_total, g_alone in zip(total, alone):
        torch.testing.assert_close(g_total[1], g_alone[1])


# --- the learner: the fields pick the losses and the models --------------------------------------------------

TASK = "InvertedPendulum-v5"
SMALL = dict(hidden_dim=16, model_hidden_dim=16, gru_hidden_dim=16, batch_size=32, seq_batch_size=16,
             num_seq_updates=1, num_random_steps=100, actor_warmup_steps=110, replay_capacity=500,
             total_env_steps=1000)


def learner_for(**fields):
    return (SACSVGConfig().environment(TASK).env_runners(num_env_runners=0).training(**(SMALL | fields))
            .debugging(seed=0)).build_learner(env=gym.make(TASK))


@pytest.fixture(scope="module")
def data():
    return random_transitions(130, TASK)


def test_sac_actor_with_mve_critic_learns_the_ensemble_and_expands_after_the_warm_up(data, monkeypatch):
    learner = learner_for(horizon=0, critic_mve="full", critic_horizon=2, dynamics_model="mlp_ensemble",
                          ensemble_size=3)
    assert learner.learns_model and learner.actor_horizon() == 0
    calls, mve_critic_loss = [], losses.mve_critic_loss

    def counted(*args, **kwargs):
        calls.append(kwargs["horizon"])  # the critic's horizon
        return mve_critic_loss(*args, **kwargs)

    monkeypatch.setattr(losses, "mve_critic_loss", counted)
    model = {n: p.detach().clone() for n, p in learner.rl_module.world_model.named_parameters()}
    stats = learner.update_from_transitions({k: v[:105] for k, v in data.items()})  # in the warm-up: eq. 5
    assert learner.critic_horizon() == 0 and calls == []
    assert {LOSS_CRITIC, LOSS_DYNAMICS, MODEL_ERROR} <= stats.keys()
    moved = {n.split(".")[0] for n, p in learner.rl_module.world_model.named_parameters()
             if not torch.equal(model[n], p)}
    assert moved == {"dynamics", "reward", "termination"}
    learner.update_from_transitions({k: v[105:115] for k, v in data.items()})
    assert learner.horizons() == (0, 2) and calls == [2] * 6  # env steps 110 .. 115
    batch = learner.dynamics_batch()  # one bootstrap batch per member
    assert batch["obs"].shape == (3, 16, learner.rl_module.observation_space.shape[0])
    errors = learner.model_errors(learner.replay.sample_sequences(8, 4))
    assert errors.shape == (3,) and torch.isfinite(errors).all()


@pytest.mark.parametrize("critic_mve", ["target", "full"])
def test_expanded_critic_and_ensemble_updates_never_read_the_device_on_the_host(data, critic_mve):
    """Fixed shapes and no host reads (the member draw and gather included): capturable as a CUDA graph."""
    learner = learner_for(critic_mve=critic_mve, dynamics_model="mlp_ensemble", ensemble_size=3)
    learner.update_from_transitions({k: v[:115] for k, v in data.items()})
    before = {n: p.detach().clone() for n, p in learner.rl_module.named_parameters()}
    assert learner.horizons() == (2, 2)
    with NoHostSync():
        learner.run_env_step_updates()
    assert all(not torch.equal(before[n], p) for n, p in learner.rl_module.named_parameters()
               if n.startswith(("critic", "world_model.dynamics")))


def test_sac_with_critic_mve_none_learns_no_model(data):
    learner = learner_for(horizon=0)
    assert not learner.learns_model
    stats = learner.update_from_transitions({k: v[:115] for k, v in data.items()})
    assert LOSS_DYNAMICS not in stats and MODEL_ERROR not in stats


@pytest.mark.parametrize("fields, message", [
    (dict(critic_mve="full", horizon=0), r"critic_mve='full' with critic_horizon=None \(the actor's horizon=0\)"),
    (dict(critic_mve="full", critic_horizon=0), "critic_mve='full' with critic_horizon=0 .* set critic_horizon >= 1"),
    (dict(critic_mve="target", horizon=3, critic_horizon=0), "critic_mve='target' with critic_horizon=0 expands"),
    (dict(ensemble_size=0), "ensemble_size=0 must be > 0"),
    (dict(critic_horizon=-1), "critic_horizon=-1 must be >= 0"),
    (dict(critic_mve="mve"), r"critic_mve='mve' must be one of \('none', 'target', 'full'\)"),
    (dict(dynamics_model="mlp"), r"dynamics_model='mlp' must be one of \('gru', 'mlp_ensemble'\)"),
])
def test_impossible_option_combinations_fail_validation_with_what_to_change(fields, message):
    with pytest.raises(ValueError, match=message):
        SACSVGConfig().environment(TASK).training(**fields).validate()


@pytest.mark.slow
def test_compiled_mve_critic_and_ensemble_updates_match_eager_updates(data):
    """compile_updates with critic_mve="full" and the MLP ensemble (the member draw inside the graph): the eager
    parameters, one graph for the one pair of horizons (the run starts after the warm-up)."""
    extra = dict(critic_mve="full", dynamics_model="mlp_ensemble", ensemble_size=3, num_seq_updates=1,
                 actor_warmup_steps=250)
    transitions = random_transitions(300, "InvertedPendulum-v5")
    eager = fastpath_learner(fused_optimizer=False, **extra)
    reference = {k: v.clone() for k, v in eager.rl_module.state_dict().items()}
    slow = run_updates(eager, transitions, reference)
    compiled = fastpath_learner(fused_optimizer=True, compile_updates=True, **extra)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    fast = run_updates(compiled, transitions, reference)
    assert_same_run(fast, slow, start=reference)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs == 1
