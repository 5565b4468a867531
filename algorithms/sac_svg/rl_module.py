"""SAC-SVG(H)'s RLModule: the actor and observation normalizer act on the env runners; the critic, its
target, the temperature and the world model live only on the learner."""
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI
from ray.rllib.core.rl_module.torch import TorchRLModule

from algorithms.sac_svg.actor import TanhGaussianActor
from algorithms.sac_svg.critic import DoubleQCritic
from algorithms.sac_svg.normalizer import RunningNormalizer
from algorithms.sac_svg.temperature import Temperature
from algorithms.sac_svg.world_model import WorldModel


class SACSVGModule(TorchRLModule, InferenceOnlyAPI):
    """Models of Algorithm 1. `model_config` carries the sizes from SACSVGConfig."""

    def setup(self) -> None:
        c = self.model_config
        obs_dim = self.observation_space.shape[0]
        act_dim = self.action_space.shape[0]
        self.normalizer = RunningNormalizer(obs_dim, c["normalize_obs"], c["obs_std_min"], c["obs_std_max"])
        self.actor = TanhGaussianActor(obs_dim, act_dim, c["hidden_dim"], c["hidden_depth"],
                                       c["log_std_min"], c["log_std_max"])
        if self.inference_only:
            return
        self.critic = DoubleQCritic(obs_dim, act_dim, c["hidden_dim"], c["hidden_depth"])
        self.target_critic = make_target_network(self.critic)
        self.temperature = Temperature(c["init_alpha"])
        self.world_model = WorldModel(obs_dim, act_dim, c["model_hidden_dim"], c["model_hidden_depth"],
                                      c["decoder_depth"], c["gru_hidden_dim"], c["gru_layers"],
                                      c["dynamics_detach_feedback"], c["world_model_dtype"])

    def get_non_inference_attributes(self) -> list[str]:
        return ["critic", "target_critic", "temperature", "world_model"]

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Deterministic action tanh(mu(x)) for evaluation."""
        with torch.no_grad():
            return {Columns.ACTIONS: self.actor.mean_action(self.normalizer(batch[Columns.OBS]))}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """A sampled action u ~ pi(x) (eq. 4) for collecting experience."""
        with torch.no_grad():
            actions, log_prob = self.actor.sample(self.normalizer(batch[Columns.OBS]))
        return {Columns.ACTIONS: actions, Columns.ACTION_LOGP: log_prob}
