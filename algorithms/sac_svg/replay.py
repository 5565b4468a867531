"""Replay of raw transitions as flat tensors on the learner's device.

Replaces RLlib's EpisodeReplayBuffer on the hot path (it cost 18-49 ms a batch here, NOTES): sampling a
single-step batch or a multi-step sequence batch is a few index operations with no host-device sync.
"""
from dataclasses import dataclass

import numpy as np
import torch

FIELDS = ("obs", "action", "reward", "next_obs", "terminated", "episode", "t")


@dataclass
class SequenceBatch:
    states: torch.Tensor   # (L, B, obs_dim): x_1 .. x_L
    actions: torch.Tensor  # (L-1, B, act_dim): u_1 .. u_{L-1}
    valid: torch.Tensor    # (B,): 1.0 where all L-1 transitions are consecutive steps of one episode


class TransitionReplay:
    """A ring buffer of (x, u, r, x', terminated) with each transition's episode id and time index."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str, seed: int):
        self.capacity, self.device = capacity, torch.device(device)
        self.size = self.next_index = 0
        self.data = {
            "obs": torch.zeros(capacity, obs_dim, device=self.device),
            "action": torch.zeros(capacity, act_dim, device=self.device),
            "reward": torch.zeros(capacity, device=self.device),
            "next_obs": torch.zeros(capacity, obs_dim, device=self.device),
            "terminated": torch.zeros(capacity, device=self.device),
            "episode": torch.full((capacity,), -1, dtype=torch.int64, device=self.device),
            "t": torch.zeros(capacity, dtype=torch.int64, device=self.device),
        }
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, transitions: dict[str, np.ndarray]) -> None:
        """Append a batch of transitions (numpy arrays keyed by FIELDS), overwriting the oldest."""
        n = len(transitions["reward"])
        index = (self.next_index + torch.arange(n)) % self.capacity
        index = index.to(self.device)
        for key, buffer in self.data.items():
            buffer[index] = torch.as_tensor(transitions[key], dtype=buffer.dtype).to(self.device, non_blocking=True)
        self.next_index = (self.next_index + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def _random_index(self, n: int, newest: int | None = None) -> torch.Tensor:
        """Uniform slots among all stored transitions, or among the `newest` ones."""
        span = self.size if newest is None else min(newest, self.size)
        offset = torch.randint(span, (n,), device=self.device, generator=self.generator)
        return (self.next_index - 1 - offset) % self.capacity if newest is not None else offset

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        """A uniform batch of single-step transitions (D_step in Algorithm 1)."""
        index = self._random_index(batch_size)
        return {key: self.data[key][index] for key in ("obs", "action", "reward", "next_obs", "terminated")}

    def sample_sequences(self, batch_size: int, length: int, newest: int | None = None) -> SequenceBatch:
        """B sequences x_{1:L}, u_{1:L-1} (D_seq in Algorithm 1) that never cross an episode end.

        Candidates are drawn uniformly (twice as many as needed) and the first B valid ones are kept, which
        is uniform over valid starts. Should fewer than B candidates be valid, the rest carry valid = 0.
        """
        steps = length - 1
        start = self._random_index(2 * batch_size, newest)
        index = (start.unsqueeze(0) + torch.arange(steps, device=self.device).unsqueeze(1)) % self.capacity
        episode, t = self.data["episode"][index], self.data["t"][index]
        offsets = torch.arange(steps, device=self.device).unsqueeze(1)
        valid = ((episode == episode[:1]) & (t == t[:1] + offsets) & (episode >= 0)).all(0)
        keep = torch.argsort((~valid).to(torch.int8), stable=True)[:batch_size]
        index = index[:, keep]
        states = torch.cat([self.data["obs"][index[:1]], self.data["next_obs"][index]])
        return SequenceBatch(states, self.data["action"][index], valid[keep].float())

    def get_state(self) -> dict:
        """The stored transitions, oldest first, as numpy arrays (for checkpoints)."""
        order = (self.next_index - self.size + torch.arange(self.size, device=self.device)) % self.capacity
        return {"transitions": {key: buffer[order].cpu().numpy() for key, buffer in self.data.items()},
                "generator": self.generator.get_state().cpu().numpy()}

    def set_state(self, state: dict) -> None:
        self.size = self.next_index = 0
        transitions = state["transitions"]
        if len(transitions["reward"]) > self.capacity:
            raise ValueError(f"checkpointed replay holds {len(transitions['reward'])} transitions, "
                             f"more than replay_capacity={self.capacity}")
        if len(transitions["reward"]):
            self.add(transitions)
        self.generator.set_state(torch.as_tensor(state["generator"], dtype=torch.uint8))


def episodes_to_transitions(episodes) -> dict[str, np.ndarray]:
    """Flatten RLlib episode chunks into transitions (x_t, u_t, r_t, x_{t+1}, terminated_{t+1}, episode, t).

    Only real terminations are marked: a time-limit truncation keeps terminated = 0 (section 4.2, eq. 13).
    """
    parts = [_chunk_transitions(e) for e in episodes if len(e) > 0]
    return {key: np.concatenate([p[key] for p in parts]) for key in FIELDS} if parts else {}


def _chunk_transitions(episode) -> dict[str, np.ndarray]:
    obs = np.asarray(episode.get_observations(), dtype=np.float32)
    n = len(episode)
    terminated = np.zeros(n, dtype=np.float32)
    terminated[-1] = float(episode.is_terminated)
    return {
        "obs": obs[:-1], "next_obs": obs[1:],
        "action": np.asarray(episode.get_actions(), dtype=np.float32).reshape(n, -1),
        "reward": np.asarray(episode.get_rewards(), dtype=np.float32),
        "terminated": terminated,
        # RLlib episode ids are uuid4 hex strings: 60 bits of it identify the episode across chunks.
        "episode": np.full(n, int(episode.id_[:15], 16), dtype=np.int64),
        "t": episode.t_started + np.arange(n, dtype=np.int64),
    }
