"""Failure-risk prediction from sparse robot rollout labels."""

from imbalance_risk._version import __version__

__all__ = ["__version__"]
