"""Examples run in the test suite: offline, one torch thread."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

try:
    import torch
except ImportError:  # pragma: no cover
    pass
else:
    torch.set_num_threads(1)
