#!/usr/bin/env bash
# Annotation throughput on a GPU (issue 14, section 5): a random-weight ~1B llama shape
# (preset llama1b: Llama-3.2-1B's shape) in bf16, batch sizes 8-64, reference vs label scoring
# vs the shared-prefix KV cache. A few minutes of GPU time. Writes, beside the CPU results:
#   benchmarks/results/annotation_throughput_gpu.json   (one entry per batch size)
#   benchmarks/results/prefix_cache_gpu.json            (per prompt variant, batch size 32)
# Copy both to docs/benchmarks/results/ to show them on the docs' benchmark page.
#
# Usage (repository root):  bash benchmarks/gpu_throughput.sh
# CPU smoke test:           DEVICE=cpu DTYPE=float32 PRESET=tiny N_TEXTS=4 PREFIX_TEXTS=4 \
#                           BATCH_SIZES="2 4" OUT_DIR=/tmp/gpu bash benchmarks/gpu_throughput.sh
set -euo pipefail
DEVICE=${DEVICE:-cuda}
DTYPE=${DTYPE:-bfloat16}
PRESET=${PRESET:-llama1b}
N_TEXTS=${N_TEXTS:-64}           # the reference runs k generate calls per text: keep it small
PREFIX_TEXTS=${PREFIX_TEXTS:-256}
BATCH_SIZES=${BATCH_SIZES:-"8 16 32 64"}
OUT_DIR=${OUT_DIR:-benchmarks/results}
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT_DIR"

"$PY" -c "import torch; assert torch.cuda.is_available() or '$DEVICE' == 'cpu', 'no GPU'; \
print(torch.cuda.get_device_name() if '$DEVICE' != 'cpu' else 'cpu')"
for bs in $BATCH_SIZES; do
  "$PY" benchmarks/annotation_throughput.py --preset "$PRESET" --device "$DEVICE" \
    --dtype "$DTYPE" --batch-size "$bs" --n-texts "$N_TEXTS" --threads 4 \
    --out "$OUT_DIR/annotation_throughput_gpu_bs$bs.json"
done
"$PY" - "$OUT_DIR" $BATCH_SIZES <<'PYEOF'
import json, sys
from pathlib import Path
out, sizes = Path(sys.argv[1]), sys.argv[2:]
runs = {bs: json.loads((out / f"annotation_throughput_gpu_bs{bs}.json").read_text()) for bs in sizes}
first = runs[sizes[0]]
merged = {k: v for k, v in first.items() if k not in ("paths", "batch_size", "targets")}
# the command of every run but its --batch-size (the table's rows: one per batch size)
merged.update(command=f"python benchmarks/annotation_throughput.py --preset {first['preset']} "
                      f"--device {first['device']} --dtype {first['dtype']} "
                      f"--n-texts {first['n_texts']} --threads {first['threads']}",
              machine=first["device_name"], batch_sizes={bs: r["paths"] for bs, r in runs.items()})
(out / "annotation_throughput_gpu.json").write_text(json.dumps(merged, indent=2))
print("wrote", out / "annotation_throughput_gpu.json")
PYEOF
"$PY" benchmarks/prefix_cache.py --models "$PRESET" --n-texts "$PREFIX_TEXTS" --batch-size 32 \
  --device "$DEVICE" --dtype "$DTYPE" --threads 4 --out "$OUT_DIR/prefix_cache_gpu.json"
