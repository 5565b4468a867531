"""Non-finite updates (guard.py): a NaN injected into a real loss is skipped before it reaches the weights or
Adam's state, counted, and fails the trial with the component's name after max_nonfinite_updates in a row."""
import gymnasium as gym
import pytest
import torch

from algorithms.sac_svg import losses
from algorithms.sac_svg.guard import NonFiniteUpdateError
from algorithms.sac_svg.random_policy import random_transitions
from tests.conftest import SMALL_TASK as TASK
from tests.conftest import small_config

torch.set_num_threads(1)


LOSSES = {"critic": "critic_loss", "dynamics": "dynamics_loss"}  # component -> its loss in losses.py


def learner_with_poisoned(monkeypatch, component: str, limit: int, poisoned_calls: int, good_calls_first: int = 0):
    """A learner whose `component` loss is NaN for `poisoned_calls` updates after `good_calls_first` good ones
    (Adam's state exists after the first good one: the fused kernel then takes the skip flag). Evaluations
    without gradients (the model-error metric) are neither counted nor poisoned."""
    learner = small_config(num_random_steps=20, actor_warmup_steps=30, batch_size=32, seq_batch_size=16,
                           max_nonfinite_updates=limit).build_learner(env=gym.make(TASK))
    loss_fn, calls = getattr(losses, LOSSES[component]), []

    def poisoned(*args, **kwargs):
        loss = loss_fn(*args, **kwargs)
        if not torch.is_grad_enabled():
            return loss
        calls.append(1)
        return loss * float("nan") if good_calls_first < len(calls) <= good_calls_first + poisoned_calls else loss

    monkeypatch.setattr(losses, LOSSES[component], poisoned)
    return learner


def adam_state(learner, name):
    optimizer = learner.adam_steps[name].optimizer
    return [t.clone() for p in optimizer.param_groups[0]["params"] for t in (p, *optimizer.state[p].values())]


@pytest.mark.parametrize("component", ["critic", "dynamics"])
def test_a_nan_loss_is_skipped_counted_and_never_applied(monkeypatch, component):
    learner = learner_with_poisoned(monkeypatch, component, limit=100, poisoned_calls=10**6, good_calls_first=2)
    learner.update_from_transitions(random_transitions(25, TASK))  # 5 updates: 2 good, then poisoned
    before = adam_state(learner, component)
    others = {n: [p.clone() for p in ps] for n, ps in learner.component_params.items() if n != component}
    stats = learner.update_from_transitions(random_transitions(5, TASK))
    per_step = 1 if component == "critic" else learner.config.num_seq_updates
    assert stats["skipped_updates"] == 5 * per_step
    assert all(torch.equal(a, b) for a, b in zip(before, adam_state(learner, component)))
    assert all(torch.isfinite(p).all() for p in learner.component_params[component])
    assert any(not torch.equal(a, b) for a, b in zip(others["actor"], learner.component_params["actor"])), \
        "the other components stopped learning"


def test_updates_resume_after_a_few_nan_losses(monkeypatch):
    learner = learner_with_poisoned(monkeypatch, "critic", limit=3, poisoned_calls=2, good_calls_first=1)
    learner.update_from_transitions(random_transitions(22, TASK))  # good, 2 poisoned, then good
    critic = [p.clone() for p in learner.component_params["critic"]]
    stats = learner.update_from_transitions(random_transitions(3, TASK))
    assert stats["skipped_updates"] == 0
    assert any(not torch.equal(a, b) for a, b in zip(critic, learner.component_params["critic"]))


def test_too_many_nan_updates_in_a_row_fail_naming_the_component_and_env_step(monkeypatch):
    learner = learner_with_poisoned(monkeypatch, "critic", limit=3, poisoned_calls=10**6)
    with pytest.raises(NonFiniteUpdateError, match=r"critic: [0-9]+ updates in a row .* by env step 25"):
        learner.update_from_transitions(random_transitions(25, TASK))


def test_non_finite_weights_fail_naming_the_component():
    learner = small_config(num_random_steps=5).build_learner(env=gym.make(TASK))
    with torch.no_grad():
        learner.component_params["reward"][0][0, 0] = float("inf")
    with pytest.raises(NonFiniteUpdateError, match="reward: non-finite weights"):
        learner.update_from_transitions(random_transitions(10, TASK))
