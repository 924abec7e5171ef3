"""Version of the imbalance-kit-text distribution."""

__version__ = "0.1.0"
