"""Shared pytest configuration for the core library tests."""

from __future__ import annotations

import os

# Triton kernels run on CPU tensors through the interpreter; the variable must be
# set before triton is first imported. On a CUDA machine export
# IMBALANCE_KIT_TRITON_GPU=1 to test the compiled kernels instead.
if os.environ.get("IMBALANCE_KIT_TRITON_GPU", "0") in ("", "0"):
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest
import torch

# The hypothesis profile ("ci": derandomized, 40 examples) is loaded by the root conftest.py.
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

CUDA = torch.cuda.is_available()
requires_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield


@pytest.fixture
def device() -> torch.device:
    return torch.device("cuda" if CUDA else "cpu")
