"""Session-wide test settings: offline, and one thread for torch and for BLAS.

On a small shared CPU, BLAS thread pools oversubscribe the cores: scikit-learn's lbfgs
(the mixture model's meta-learner) ran 5-20 times slower than single-threaded here.
This file sits at the repository root so it applies to ``tests/`` and ``docs/examples/``.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")  # for libraries not loaded yet

import scipy.linalg  # noqa: E402,F401  load scipy's BLAS so the limit below reaches it
import sklearn.linear_model  # noqa: E402,F401
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402  (a scikit-learn dependency)

threadpool_limits(limits=1)  # for the ones already loaded
torch.set_num_threads(1)
