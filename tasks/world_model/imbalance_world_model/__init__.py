"""Trust-gated synthetic data from a learned latent world model for offline RL.

Modules:

* :mod:`imbalance_world_model.episodes`: the episode schema and its NPZ reader / writer.
* :mod:`imbalance_world_model.simulate`: real episodes of damped coupled oscillators under a
  noisy controller, economic metrics and data bricks.
* :mod:`imbalance_world_model.features`: episode features of the trust net.
* :mod:`imbalance_world_model.world_model`, :mod:`imbalance_world_model.wm_train`: the GRU
  latent world model, its rollouts and its training objectives.
* :mod:`imbalance_world_model.trust`, :mod:`imbalance_world_model.gates`: the trust nets, the
  distribution-bounds filter and the trust gate.
* :mod:`imbalance_world_model.replay`, :mod:`imbalance_world_model.policy`: replay buffer with
  source tracking, trust-weighted sampling, weighted BC and TD3+BC.
* :mod:`imbalance_world_model.diagnostics`: std ratio over the horizon, pass shares, plots.
* :mod:`imbalance_world_model.config`, :mod:`imbalance_world_model.pipeline`,
  :mod:`imbalance_world_model.stages`, :mod:`imbalance_world_model.evaluate`,
  :mod:`imbalance_world_model.studies`, :mod:`imbalance_world_model.cli`: the YAML config, the
  stages, ``demo``, the evaluation, ``horizon-study`` / ``policy-study`` and the
  ``imbalance-world-model`` command.
"""

from imbalance_world_model._version import __version__

__all__ = ["__version__"]
