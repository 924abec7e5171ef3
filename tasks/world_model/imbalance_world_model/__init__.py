"""Trust-gated synthetic data from a learned latent world model for offline RL.

The modules follow the skeleton every imbalance-kit task package shares:

* :mod:`imbalance_world_model.cli`: the ``imbalance-world-model`` command.
* :mod:`imbalance_world_model.config`: the YAML config (shipped configs in ``configs/``).
* :mod:`imbalance_world_model.simulate`: real episodes of damped coupled oscillators under a
  noisy controller, economic metrics, data bricks; the ``simulate`` stage.
* :mod:`imbalance_world_model.data`: the episode schema, its NPZ reader / writer, the split.
* :mod:`imbalance_world_model.model`: the GRU latent world model, the policy network and the
  ``model.pt`` files of every network.
* :mod:`imbalance_world_model.module`: the LightningModules (world model, trust net, policy).
* :mod:`imbalance_world_model.objective`: the training losses (variance penalty, feature
  matching, weighted BC, TD3+BC, importance weights).
* :mod:`imbalance_world_model.train`: training under Lightning and the training stages.
* :mod:`imbalance_world_model.evaluate`: ``metrics.json``, ``predictions.csv`` and plots.
* :mod:`imbalance_world_model.study`: ``study`` (policy mixes or world-model training schemes,
  over seeds).
* :mod:`imbalance_world_model.demo`: ``demo``, the whole loop in a resumable run folder.

Extras of this task: :mod:`~imbalance_world_model.generate` (synthetic episodes),
:mod:`~imbalance_world_model.trust` and :mod:`~imbalance_world_model.features` (trust nets),
:mod:`~imbalance_world_model.gates` (bounds filter, trust gate, the ``gate`` stage),
:mod:`~imbalance_world_model.replay` (replay buffer with source tracking and mix weights) and
:mod:`~imbalance_world_model.diagnostics` (std ratio, pass shares, plots).
"""

from imbalance_world_model._version import __version__

__all__ = ["__version__"]
