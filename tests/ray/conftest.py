"""A real local Ray cluster for the module's tests: two CPU generation workers on the tiny
models, behind a real app context (SQLite history, real store). Small on purpose: 2 CPUs,
a 200 MB object store, no dashboard, no usage reports (nothing beyond loopback)."""

from __future__ import annotations

import os

import pytest

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
ray = pytest.importorskip("ray", reason="Ray Serve is an optional extra: pip install "
                                        "'ray[serve]==2.60.0' (requirements-extras.txt)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/ray/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.ray)
            item.add_marker(pytest.mark.slow)  # minutes: the daily lane skips them too


@pytest.fixture(scope="module")
def cluster():
    from ray import serve

    from webui.backends.ray_serve import connect

    started = connect(None, num_cpus=2, object_store_memory=200 * 2**20,
                      log_to_driver=False)
    try:
        yield
    finally:
        serve.shutdown()
        if started:
            ray.shutdown()


@pytest.fixture(scope="module")
def ray_ctx(cluster, control_models_dir, tmp_path_factory):
    """The app with ``--backend ray --ray-workers 2 --ray-models-per-worker 1``: each worker
    holds one checkpoint, so where a job runs decides whether it loads one. The models folder
    has the tiny ControlNets too."""
    from webui.app import create_context
    from webui.config import Settings, check_backend

    work = tmp_path_factory.mktemp("ray-app")
    settings = Settings(models_dir=control_models_dir, outputs_dir=work / "outputs",
                        data_dir=work / "data", device="cpu", backend="ray", ray_workers=2,
                        ray_models_per_worker=1, ray_job_timeout=300)
    check_backend(settings)
    ctx = create_context(settings)
    try:
        yield ctx
    finally:
        ctx.jobs.backend.close()
