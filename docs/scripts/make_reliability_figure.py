"""Draw docs/img/reliability.png: reliability diagrams before and after temperature scaling.

The model is the over-confident MLP of the calibration benchmark
(``benchmarks/bench_calibration.py``, split 0): trained on 10% of scikit-learn's
bundled ``load_digits``; the temperature is fitted on the validation split and
both diagrams show the test split.

    python docs/scripts/make_reliability_figure.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_calibration import train_overconfident_mlp  # noqa: E402

from imbalance_kit.calibration import TemperatureScaling, plot_reliability_diagram  # noqa: E402

OUT = ROOT / "docs" / "img" / "reliability.png"


def main() -> None:
    val_logits, val_labels, test_logits, test_labels = train_overconfident_mlp(seed=0)
    scaler = TemperatureScaling().fit(val_logits, val_labels)
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    before, after = fig.subfigures(1, 2)
    plot_reliability_diagram(
        test_logits, test_labels, from_logits=True, figure=before, title="MLP on digits (test)"
    )
    plot_reliability_diagram(
        scaler.transform(test_logits),
        test_labels,
        from_logits=True,
        figure=after,
        title=f"after temperature scaling (T = {scaler.temperature_:.2f})",
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=80, pil_kwargs={"optimize": True})
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    main()
