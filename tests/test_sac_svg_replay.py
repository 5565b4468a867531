"""Replay: single-step and sequence sampling, episode boundaries, truncation, checkpoint state."""
import numpy as np
import pytest
import torch
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from algorithms.sac_svg.replay import TransitionReplay, episodes_to_transitions


def episode(length: int, terminated: bool = False, truncated: bool = False, t_started: int = 0, ep_id=None):
    """An RLlib episode chunk whose observations encode (episode number, time step)."""
    number = float(int(ep_id[:4], 16)) if ep_id else 0.0
    obs = [np.array([number, t_started + i], dtype=np.float32) for i in range(length + 1)]
    return SingleAgentEpisode(id_=ep_id, observations=obs, actions=[np.array([0.5])] * length,
                              rewards=[1.0] * length, terminated=terminated, truncated=truncated,
                              t_started=t_started, len_lookback_buffer=0)


def test_truncation_is_never_a_termination_target():
    truncated = episodes_to_transitions([episode(5, truncated=True)])
    terminated = episodes_to_transitions([episode(5, terminated=True)])
    assert truncated["terminated"].tolist() == [0.0] * 5
    assert terminated["terminated"].tolist() == [0.0] * 4 + [1.0]
    np.testing.assert_array_equal(truncated["next_obs"][:-1], truncated["obs"][1:])


def test_chunks_of_one_episode_keep_its_id_and_time():
    ep_id = "abcd" + "0" * 28
    first, second = episode(3, ep_id=ep_id), episode(4, t_started=3, ep_id=ep_id)
    transitions = episodes_to_transitions([first, second])
    assert len(set(transitions["episode"].tolist())) == 1
    assert transitions["t"].tolist() == list(range(7))


def filled_replay(capacity: int, runners: int = 4) -> TransitionReplay:
    """Chunks of 1-5 steps from several env runners, interleaved as they would arrive."""
    rng = np.random.default_rng(0)
    replay = TransitionReplay(capacity, obs_dim=2, act_dim=1, device="cpu", seed=0)
    ids = iter(f"{i:04x}" + "0" * 28 for i in range(1, 10_000))
    current = [(next(ids), 0) for _ in range(runners)]  # each runner's episode and its next time step
    for _ in range(400):
        runner = int(rng.integers(runners))
        ep_id, t0 = current[runner]
        length, done = int(rng.integers(1, 6)), rng.random() < 0.05
        replay.add(episodes_to_transitions([episode(length, terminated=done, t_started=t0, ep_id=ep_id)]))
        current[runner] = (next(ids), 0) if done else (ep_id, t0 + length)
    return replay


@pytest.mark.parametrize("capacity", [10_000, 257])  # not full, and wrapped around many times
def test_sequences_never_cross_an_episode_end(capacity):
    replay = filled_replay(capacity)
    for length in (2, 3, 5):
        seq = replay.sample_sequences(512, length)
        assert seq.states.shape == (length, 512, 2) and seq.actions.shape == (length - 1, 512, 1)
        # Interleaved chunks are linked back into whole episodes: almost every start fits.
        assert seq.valid.mean() > 0.95
        valid = seq.valid.bool()
        episode_number, t = seq.states[:, valid, 0], seq.states[:, valid, 1]
        assert (episode_number == episode_number[:1]).all()
        assert (t - t[:1] == torch.arange(length).unsqueeze(1)).all()


def test_single_step_batch_and_newest_window():
    replay = filled_replay(10_000)
    batch = replay.sample(256)
    assert batch["obs"].shape == (256, 2) and batch["terminated"].shape == (256,)
    newest = replay.sample_sequences(256, 2, newest=20)
    stored = replay.data["obs"][replay.next_index - 20:replay.next_index, 1]
    assert set(newest.states[0, :, 1].tolist()) <= set(stored.tolist())


def test_sequences_marked_invalid_when_none_fit():
    replay = TransitionReplay(100, obs_dim=2, act_dim=1, device="cpu", seed=0)
    ids = [f"{i:04x}" + "0" * 28 for i in range(1, 21)]
    replay.add(episodes_to_transitions([episode(1, terminated=True, ep_id=i) for i in ids]))
    assert replay.sample_sequences(16, 3).valid.sum() == 0


def test_state_roundtrip_continues_exactly():
    replay = filled_replay(257)
    restored = TransitionReplay(257, obs_dim=2, act_dim=1, device="cpu", seed=5)
    restored.set_state(replay.get_state())
    assert len(restored) == len(replay)
    torch.testing.assert_close(restored.sample(64)["obs"], replay.sample(64)["obs"])
    torch.testing.assert_close(restored.sample_sequences(64, 4).states, replay.sample_sequences(64, 4).states)
    with pytest.raises(ValueError, match="capacity"):
        TransitionReplay(100, obs_dim=2, act_dim=1, device="cpu", seed=0).set_state(replay.get_state())


def test_sampler_state_from_another_device_restores_reproducibly():
    """A checkpoint's sampler state from a GPU (Philox: seed and offset) restores on a CPU and the other way
    round: reseeded from the saved state, with a warning, identically on every restore."""
    replay = filled_replay(257)
    state = replay.get_state()
    assert state["generator_device"] == "cpu"
    cuda_like = state | {"generator": np.arange(16, dtype=np.uint8), "generator_device": "cuda"}
    samples = []
    for _ in range(2):
        restored = TransitionReplay(257, obs_dim=2, act_dim=1, device="cpu", seed=5)
        with pytest.warns(UserWarning, match="saved on cuda and restored on cpu"):
            restored.set_state(cuda_like)
        assert len(restored) == len(replay)
        samples.append(restored.sample(64)["obs"])
    torch.testing.assert_close(samples[0], samples[1])


def test_sampling_range_is_read_from_the_device_scalars():
    """What a compiled or captured update sees: the in-place device scalars, kept equal to the host counters."""
    replay = TransitionReplay(100, obs_dim=2, act_dim=1, device="cpu", seed=0)
    ids = [f"{i:04x}" + "0" * 28 for i in range(1, 4)]
    replay.add(episodes_to_transitions([episode(30, ep_id=i) for i in ids]))
    assert (replay.device_size.item(), replay.device_next_index.item()) == (90, 90)
    replay.add(episodes_to_transitions([episode(30, ep_id="ffff" + "0" * 28)]))
    assert (replay.device_size.item(), replay.device_next_index.item()) == (100, 20)
    index = replay._slots_at(replay.draw_transitions(4096))
    assert index.min() >= 0 and index.max() < 100 and len(index.unique()) > 90
    newest = replay._slots_at(replay.draw_transitions(4096), newest=20)
    assert set(newest.tolist()) == set(range(20))
