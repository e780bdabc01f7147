#!/usr/bin/env bash
# The copy descriptor's online training on a lent GPU machine (issue 17). Not run by CI.
#
# Here, once: python bench/gpu_pack.py --pool /work/data/pool --kit /tmp/bench-train
#   (writes .gpu/: shrunk pool photos, the kit's training part, two pure-Python wheels)
# Then the session's device tool:  run(command="bash bench/gpu_train.sh", carry=[".gpu"], timeout_s=...)
# It trains every stage of the network on fresh copies each step (copydesc data.online), from
# the shipped default model's weights unless INIT says otherwise, for MINUTES minutes
# (the learning rate's cosine ends with them), and leaves under $OUT:
#   bundle/   the best checkpoint by validation (the kit's training part), exported as a bundle
#   last.pt   the last weights (a checkpoint that `copydesc --init` and bench/export_state.py take)
#   best.pt   only where the export failed there: the best weights (export them here)
#   train.log
# Back here: calibrate the thresholds and the band (bench/calibrate_thresholds.py,
# bench/calibrate_band.py), then measure (python -m lookalike.trainer.benchmark).
# With DEVICE=cpu (and tiny STEPS/MINUTES) the same script runs here, to check it before a lease.
# Extra arguments go to copydesc (--set KEY=VALUE ...).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-7}
STEPS=${STEPS:-100000}
BATCH=${BATCH:-256}
DEVICE=${DEVICE:-cuda}
INIT=${INIT:-resources/models/default/checkpoint.pt}
OUT=${OUT:?OUT must name the folder for the results}
PY=${PYTHON:-python3}
WORKERS=${WORKERS:-$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))}
SITE=${SITE:-/tmp/lookalike-site}
[ -d .gpu/pool ] && [ -d .gpu/kit-train ] || { echo "no .gpu/ here: run bench/gpu_pack.py first" >&2; exit 2; }

# the packages that machine lacks, and lookalike itself without installing it (its three code
# folders are the packages lookalike.core / .trainer / .resources)
mkdir -p "$SITE/lookalike"
if ls .gpu/wheels/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" .gpu/wheels/*.whl
fi
for d in core trainer resources; do ln -sfn "$PWD/$d" "$SITE/lookalike/$d"; done
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"

mkdir -p "$OUT"
WORK=${WORK:-/tmp/lookalike-gpu-work}
set -o pipefail
rc=0
"$PY" -m lookalike.trainer.copydesc .gpu/pool --work "$WORK" --out "$OUT/bundle" --val-bench .gpu/kit-train \
  --init "$INIT" --set data.online=true --set model.cache_stages=0 --set train.device="$DEVICE" \
  --set train.workers="$WORKERS" --set threads=4 --set train.minutes="$MINUTES" \
  --set train.steps="$STEPS" --set train.batch="$BATCH" --set train.eval_every=100 \
  --set data.val_photos=150 --set train.anchor_original=1.0 --set augment.crop_min_area=0.35 \
  --set augment.orient=0.7 \
  "$@" 2>&1 | tee "$OUT/train.log" || rc=$?
# the last weights too (the best by validation is the bundle), half precision as a bundle's
# checkpoint; where the export failed, the best weights as well, so the training is not lost
"$PY" - "$WORK" "$OUT" <<'EOF'
import os, sys, torch
work, out = sys.argv[1:3]
def half(sd):
    return {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
st = torch.load(os.path.join(work, "state.pt"), map_location="cpu", weights_only=False)
torch.save({"state_dict": half(st["model"]), "step": st["step"], "history": st["history"]},
           os.path.join(out, "last.pt"))
print("last step", st["step"])
if not os.path.isfile(os.path.join(out, "bundle", "model.onnx")):
    best = torch.load(os.path.join(work, "best.pt"), map_location="cpu", weights_only=True)
    torch.save({"state_dict": half(best), "best": st["best"]}, os.path.join(out, "best.pt"))
    print("no bundle: best.pt kept (step", st["best"]["step"], ")")
EOF
ls -la "$OUT" "$OUT/bundle" || true
exit $rc
