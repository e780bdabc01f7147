"""Export one saved state of a copy-descriptor run as a model bundle, to measure it. Not a
measurement itself.

    python bench/export_state.py --work WORK --weights WORK/weights-00500.pt --out DIR

WEIGHTS: a state the run kept (`train.keep_states`: weights-STEP.pt), its best.pt or state.pt,
or a bundle's checkpoint.pt; the model's settings come from WORK/config.toml. The thresholds are
the shipped default's until `bench/calibrate_thresholds.py --write` and `bench/calibrate_band.py
--write` set the state's own; `python -m lookalike.trainer.benchmark --bundle DIR --bench B`
measures the embedding alone (its recall at precision 0.99 and best F1 need no thresholds).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="the run's --work folder (config.toml)")
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    import torch
    from lookalike.core.bundle import load_bundle
    from lookalike.trainer.config import load_config
    from lookalike.trainer.copydesc import DEFAULTS, _init_weights, build, write_copy_bundle

    cfg = load_config(a.work / "config.toml", base=DEFAULTS)
    torch.set_num_threads(int(cfg["threads"]))
    model = build(cfg, pretrained=False)
    model.load_state_dict(_init_weights(a.weights))
    model.eval()
    default = load_bundle(HERE.parent / "resources" / "models" / "default")
    trained_on = f"state {a.weights.name} of the copy-descriptor run in {a.work} (bench/export_state.py)"
    diff = write_copy_bundle(model, cfg, a.out, dict(default.thresholds),
                             {"exported_from": str(a.weights)}, trained_on)
    print(f"{a.weights} -> {a.out} (parity {diff:.2g}); thresholds are the default's until calibrated",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
