"""The dynamics models f, one registry keyed by the config's `dynamics_model` (whose allowed values it gives).

A dynamics model is an nn.Module with the world model's rollout interface, `step(x, u, state)` and
`unroll(x_1, u_{1:L-1})`, and its own training:
- `build(obs_dim, act_dim, n)`: the module from the network sizes n (NetworkHyperparameters);
- `draw(replay, config)`: the replay's random numbers for one training batch (drawn outside a compiled graph);
- `training_batch(replay, draw, config)`: that batch, gathered with no randomness;
- `training_loss(batch, normalizer)`: the loss its optimizer minimizes, and the LOSS_DYNAMICS value reported;
- `grad_clip(config)`: the max norm its gradient is clipped to, or None.
A new model is its module and one line here.
"""
from typing import Literal

from algorithms.sac_svg.ensemble import MLPEnsembleDynamics
from algorithms.sac_svg.gru import GRUDynamics

DYNAMICS_MODELS = {
    "gru": GRUDynamics,                  # section 4.2, multi-step sequences (eq. 11)
    "mlp_ensemble": MLPEnsembleDynamics,  # PETS' and MBPO's ensemble, one-step transitions (fig. 3)
}
DynamicsModelName = Literal[tuple(DYNAMICS_MODELS)]
