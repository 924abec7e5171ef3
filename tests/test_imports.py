"""Importing the core stays light: scikit-learn, scipy and torchmetrics load where they are used."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("sklearn", "scipy", "torchmetrics", "matplotlib", "pandas")


def _loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter and list the heavy packages it loaded."""
    names = f"sorted(m for m in {HEAVY!r} if m in sys.modules)"
    report = f"import json, sys\nprint(json.dumps({names}))"
    script = f"{code}\n{report}"
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_core_modules_loads_no_sklearn_scipy_or_torchmetrics():
    loaded = _loaded_after(
        "import imbalance_kit.metrics, imbalance_kit.calibration, imbalance_kit.augment, "
        "imbalance_kit.losses, imbalance_kit.weights, imbalance_kit.sampling"
    )
    assert loaded == []


def test_the_functions_run_without_them():
    loaded = _loaded_after(
        "import torch\n"
        "from imbalance_kit.metrics import per_class_recall, tail_recall, probability_clustering\n"
        "from imbalance_kit.calibration import expected_calibration_error, TemperatureScaling\n"
        "from imbalance_kit.augment import smote\n"
        "y = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])\n"
        "p = torch.softmax(torch.randn(10, 2), 1)\n"
        "per_class_recall(p, y); tail_recall(p, y); probability_clustering(p)\n"
        "expected_calibration_error(p, y)\n"
        "TemperatureScaling().fit(p.log(), y)(p.log())\n"
        "smote(torch.randn(10, 3), y, k_neighbors=2)\n"
    )
    assert loaded == []


def test_heavy_names_load_on_first_access():
    loaded = _loaded_after(
        "from imbalance_kit.calibration import CalibrationMeter\n"
        "from imbalance_kit.metrics import ImbalanceReport, PerClassRecall, TailRecall\n"
        "from imbalance_kit.augment import SMOTE\n"
        "import imbalance_kit.metrics as m\n"
        "assert 'TailRecall' in dir(m) and 'TailRecall' in m.__all__\n"
    )
    assert {"torchmetrics", "sklearn"} <= set(loaded)
