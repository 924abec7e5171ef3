"""Failure-risk prediction from sparse robot rollout labels, built on imbalance-kit.

Modules:

* :mod:`imbalance_risk.rollouts`: the rollout schema and its NPZ / Parquet / pickle readers.
* :mod:`imbalance_risk.simulate`: rollouts of a glitching reaching policy on a planar arm.
* :mod:`imbalance_risk.labels`, :mod:`imbalance_risk.prepare`: per-step labels, the episode split.
* :mod:`imbalance_risk.config`: the YAML training configuration.
* :mod:`imbalance_risk.model`, :mod:`imbalance_risk.objective`, :mod:`imbalance_risk.data`,
  :mod:`imbalance_risk.module`, :mod:`imbalance_risk.train`: the network, its multi-task
  objective, the data pipeline and Lightning training.
* :mod:`imbalance_risk.evaluate`: metrics, predictions and plots.
* :mod:`imbalance_risk.pipeline`, :mod:`imbalance_risk.cli`: ``demo``, the ablation and the
  ``imbalance-risk`` command.
"""

from imbalance_risk._version import __version__

__all__ = ["__version__"]
