"""Fixtures of the ControlNet / IP-Adapter tests: ``control_models_dir`` (a models folder with
the tiny SDXL checkpoints plus the tiny ControlNets, IP-Adapter and image encoder, made once per
session) lives in tests/conftest.py, as the Ray tests use it too."""
