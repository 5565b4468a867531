"""SAC-SVG(H)'s RLModule: the actor and observation normalizer act on the env runners; the critic, its
target, the temperature and the world model live only on the learner."""
from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override

from algorithms.sac_svg.actor import TanhGaussianActor
from algorithms.sac_svg.config import NetworkHyperparameters
from algorithms.sac_svg.critic import DoubleQCritic
from algorithms.sac_svg.dynamics_models import DYNAMICS_MODELS
from algorithms.sac_svg.normalizer import RunningNormalizer
from algorithms.sac_svg.temperature import Temperature
from algorithms.sac_svg.world_model import WorldModel


class SACSVGModule(TorchRLModule, InferenceOnlyAPI):
    """Models of Algorithm 1. `model_config` carries SACSVGConfig's NetworkHyperparameters."""

    @override(TorchRLModule)
    def setup(self) -> None:
        n = NetworkHyperparameters.from_model_config(self.model_config)
        obs_dim = self.observation_space.shape[0]
        act_dim = self.action_space.shape[0]
        self.normalizer = RunningNormalizer(dim=obs_dim, enabled=n.normalize_obs, std_min=n.obs_std_min,
                                            std_max=n.obs_std_max)
        self.actor = TanhGaussianActor(obs_dim=obs_dim, act_dim=act_dim, hidden_dim=n.hidden_dim,
                                       hidden_depth=n.hidden_depth, log_std_min=n.log_std_min,
                                       log_std_max=n.log_std_max)
        if self.inference_only:
            return
        self.critic = DoubleQCritic(obs_dim=obs_dim, act_dim=act_dim, hidden_dim=n.hidden_dim,
                                    hidden_depth=n.hidden_depth)
        self.target_critic = make_target_network(self.critic)
        self.temperature = Temperature(init_alpha=n.init_alpha)
        dynamics = DYNAMICS_MODELS[n.dynamics_model].build(obs_dim, act_dim, n)
        self.world_model = WorldModel(obs_dim=obs_dim, act_dim=act_dim, hidden_dim=n.model_hidden_dim,
                                      hidden_depth=n.model_hidden_depth, dynamics=dynamics,
                                      matmul_dtype=n.world_model_dtype)

    # RLlib's state round trip casts float64 arrays to float32 both ways; the float64 buffers (the normalizer's
    # running moments) travel exactly, so that a restored run normalizes like the original.
    @override(TorchRLModule)
    def get_state(self, *args, **kwargs) -> dict[str, Any]:
        state = super().get_state(*args, **kwargs)
        exact = self.float64_buffers()
        return state | {name: exact[name].cpu().numpy().copy() for name in exact.keys() & state.keys()}

    @override(TorchRLModule)
    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        exact = self.float64_buffers()
        for name in exact.keys() & state.keys():
            exact[name].copy_(torch.as_tensor(state[name], dtype=torch.float64))

    def float64_buffers(self) -> dict[str, torch.Tensor]:
        return {name: buffer for name, buffer in self.named_buffers() if buffer.dtype == torch.float64}

    # The per-fragment weight sync (env_runner.Sampling): what the env runners act with, as one flat array, a
    # fraction of RLlib's state round trip (docs/performance.md).
    def acting_tensors(self) -> list[torch.Tensor]:
        """What acting reads: the normalizer's loc and scale and the actor's parameters, in a fixed order."""
        return [self.normalizer.loc, self.normalizer.scale, *self.actor.parameters()]

    def acting_state(self) -> np.ndarray:
        with torch.no_grad():
            return torch.cat([t.reshape(-1) for t in self.acting_tensors()]).cpu().numpy()

    def load_acting_state(self, state: np.ndarray) -> None:
        tensors = self.acting_tensors()
        sizes = [t.numel() for t in tensors]
        if state.shape != (sum(sizes),):
            raise ValueError(f"acting state of shape {state.shape} for an actor of {sum(sizes)} values")
        with torch.no_grad():
            for tensor, part in zip(tensors, torch.from_numpy(state).split(sizes)):
                tensor.copy_(part.view_as(tensor))

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return ["critic", "target_critic", "temperature", "world_model"]

    @override(TorchRLModule)
    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Deterministic action tanh(mu(x)) for evaluation."""
        with torch.no_grad():
            return {Columns.ACTIONS: self.actor.mean_action(self.normalizer(batch[Columns.OBS]))}

    @override(TorchRLModule)
    def _forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """A sampled action u ~ pi(x) (eq. 4) for collecting experience."""
        with torch.no_grad():
            actions, log_prob = self.actor.sample(self.normalizer(batch[Columns.OBS]))
        return {Columns.ACTIONS: actions, Columns.ACTION_LOGP: log_prob}
