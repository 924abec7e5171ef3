"""Version of the imbalance-kit-risk distribution."""

__version__ = "0.1.0"
