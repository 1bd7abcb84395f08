#!/usr/bin/env bash
# Runs a fast subset of the tests on the oldest versions that pyproject.toml allows
# (pinned in constraints-min.txt), in its own virtual environment .venv-min.
# Called by .ci/run after `make test`; works from any directory of a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv-min
PY=$VENV/bin/python

start=$SECONDS
[ -x "$PY" ] || "$PYTHON" -m venv "$VENV"
# torch first and only as torch==2.13.0 (the CPU build): any other spec pulls CUDA wheels.
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -c constraints-min.txt -e . pytest pandas
# As in the Makefile: modAL pins skorch==0.9.0, so it stays out of the resolver.
"$PY" -m pip install -q --no-deps modAL-python==0.4.2.1
"$PY" - <<'PY'
import importlib.metadata as md
print("min versions:", ", ".join(
    f"{name} {md.version(name)}" for name in ("scikit-learn", "skorch", "numpy", "scipy", "torch")))
PY
installed=$SECONDS
# API compatibility only: the accuracy checks on the LLM recordings are left to `make test`.
HF_HUB_OFFLINE=1 "$PY" -m pytest -q -p no:cacheprovider -m "not recordings" \
    tests/test_signals.py tests/test_validation.py tests/aggregation/test_mixture.py \
    tests/aggregation/test_baselines.py tests/test_label_noise.py \
    tests/negative_learning tests/annotators/test_panel.py \
    tests/active_learning/test_learner.py tests/active_learning/test_strategies.py \
    tests/active_learning/test_modal_compat.py tests/active_learning/test_loop.py \
    tests/active_learning/test_classifier.py tests/active_learning/test_params.py \
    tests/active_learning/test_state.py tests/active_learning/test_target_policy.py
echo "min versions: install $((installed - start)) s, tests $((SECONDS - installed)) s"
