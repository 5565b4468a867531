"""The uniformly random first actions (`num_random_steps`) of RLlib's own SingleAgentEnvRunner, seeded with the
run's seed (the lean env runner, env_runner.py, draws them from its own seeded generator)."""
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.annotations import override


class SeedRandomActions(RLlibCallback):
    """Seeds each env runner's action space, so the uniformly random first steps repeat with the run's seed."""

    @override(RLlibCallback)
    def on_environment_created(self, *, env_runner, env, **kwargs) -> None:
        if env_runner.config.seed is not None:
            env.action_space.seed(env_runner.config.seed + (env_runner.worker_index or 0))
