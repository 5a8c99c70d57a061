"""The trainer tests run on one torch thread: their models are tiny (per-op overhead, not
arithmetic, dominates), and on a shared 2-core machine two threads ran them up to 4x slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
