"""Failure-risk prediction from sparse robot rollout labels, built on imbalance-kit.

Modules (the layout every imbalance-kit task package shares):

* :mod:`imbalance_risk.cli`: the ``imbalance-risk`` command.
* :mod:`imbalance_risk.config`: the YAML training configuration (shipped configs in
  ``imbalance_risk/configs/``).
* :mod:`imbalance_risk.simulate`: rollouts of a glitching reaching policy on a planar arm.
* :mod:`imbalance_risk.data`: the prepared data set and its loading for training.
* :mod:`imbalance_risk.model`, :mod:`imbalance_risk.module`, :mod:`imbalance_risk.objective`:
  the network, the LightningModule and the multi-task objective.
* :mod:`imbalance_risk.train`, :mod:`imbalance_risk.evaluate`: Lightning training; metrics,
  predictions and plots.
* :mod:`imbalance_risk.study`, :mod:`imbalance_risk.demo`: the variant x seed comparison and
  the end-to-end demo.

And this task's own: :mod:`imbalance_risk.rollouts` (the rollout input format and its
readers), :mod:`imbalance_risk.labels` (per-step labels), :mod:`imbalance_risk.prepare`
(the ``prepare`` stage: labels, the episode split, the prepared file) and
:mod:`imbalance_risk.gym` (real rollouts from gymnasium's CartPole-v1). The SLURM template
for multi-node training is ``imbalance_risk/slurm/train.sbatch``.
"""

from imbalance_risk._version import __version__

__all__ = ["__version__"]
