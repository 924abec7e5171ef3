"""``python -m imbalance_kit``: the ``imbalance-kit`` command."""

import sys

from imbalance_kit.cli import main

if __name__ == "__main__":
    sys.exit(main())
