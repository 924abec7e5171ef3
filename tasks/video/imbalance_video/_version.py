"""Version of the imbalance-kit-video task package."""

__version__ = "0.1.0"
