"""``python launch.py``: flags, env vars, and a real start that loads no model."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from webui.config import parse_settings

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--port", "--listen", "--models-dir", "--outputs-dir", "--data-dir", "--db", "--ckpt",
         "--device", "--dtype"]


def test_help_explains_every_flag():
    out = subprocess.run([sys.executable, "launch.py", "--help"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    for flag in FLAGS:
        assert flag in out
    assert "WEBUI_" in out


def test_env_vars_and_flags(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBUI_PORT", "9999")
    monkeypatch.setenv("WEBUI_LISTEN", "1")
    monkeypatch.setenv("WEBUI_MODELS_DIR", str(tmp_path))
    s = parse_settings([])
    assert (s.port, s.host, s.models_dir) == (9999, "0.0.0.0", tmp_path)
    s = parse_settings(["--port", "7000", "--dtype", "bf16", "--db", "sqlite:///x.db"])
    assert (s.port, s.dtype, s.db_url) == (7000, "bf16", "sqlite:///x.db")
    monkeypatch.delenv("WEBUI_LISTEN")
    assert parse_settings([]).host == "127.0.0.1"


def test_starts_serving_without_loading_a_model(tiny_models_dir, tmp_path):
    from tests.helpers import free_port

    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "launch.py", "--port", str(port), "--models-dir", str(tiny_models_dir),
         "--outputs-dir", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"),
         "--ckpt", "tiny-sdxl-b"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode()
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "app did not start in 120 s"
                time.sleep(0.5)
        assert "gradio" in page.lower()
        config = urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5).read()
        assert b"tiny-sdxl-b" in config  # --ckpt is the selected checkpoint
        assert (tmp_path / "data" / "webui.db").is_file()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "loading checkpoint" not in out  # models load on first use, not at start


def test_sharing_flags_and_env_vars(monkeypatch, tmp_path):
    s = parse_settings(["--auth", "ann:pw-a,bob:pw-b", "--admins", "bob", "--share",
                        "--max-queue", "5", "--api-auth", "api:pw-c", "--api-keys",
                        "key-12345678"])
    assert (s.admins, s.share, s.max_queue, s.login_enabled, s.api_credentials) == (
        ("bob",), True, 5, True, True)
    assert parse_settings(["--auth", "ann:pw,bob:pw"]).admins == ()  # only --admins makes one
    assert parse_settings([]).max_queue == 64 and not parse_settings([]).login_enabled
    f = tmp_path / "users.txt"
    f.write_text("carol:pw\n")
    monkeypatch.setenv("WEBUI_AUTH_FILE", str(f))
    monkeypatch.setenv("WEBUI_ADMINS", "carol")
    monkeypatch.setenv("WEBUI_MAX_QUEUE", "7")
    s = parse_settings([])
    assert s.login_enabled and s.admins == ("carol",) and s.max_queue == 7


def run_launch(*args, timeout=60):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("WEBUI_LISTEN", None)
    return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_api_beyond_loopback_refuses_to_start_without_credentials():
    out = run_launch("--listen", "--api")
    assert out.returncode == 2
    assert "refusing to serve the API on all interfaces" in out.stderr
    assert "--api-auth" in out.stderr and "--insecure" in out.stderr


def test_bad_auth_value_stops_with_a_message_and_no_password():
    out = run_launch("--auth", "ann:TopSecret9,justaname")
    assert out.returncode == 2 and "entry 2 is not user:password" in out.stderr
    assert "TopSecret9" not in out.stderr + out.stdout
    out = run_launch("--auth", "ann:pw", "--admins", "zed")
    assert out.returncode == 2 and "unknown users: zed" in out.stderr


def test_listening_without_login_warns_loudly():
    from webui.app import startup_warnings
    from webui.config import Settings

    assert startup_warnings(Settings()) == []  # local: nothing to warn about
    warned = startup_warnings(Settings(listen=True))
    assert warned and "WITHOUT A LOGIN" in warned[0] and "--auth" in warned[0]
    assert startup_warnings(Settings(listen=True, auth="a:b")) == []
    assert "PUBLIC" in " ".join(startup_warnings(Settings(share=True)))


def test_listen_start_prints_the_warning(tiny_models_dir, tmp_path):
    from tests.helpers import free_port

    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "launch.py", "--listen", "--port", str(port), "--models-dir",
         str(tiny_models_dir), "--outputs-dir", str(tmp_path / "o"), "--data-dir",
         str(tmp_path / "d")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                break
            except OSError:
                assert proc.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "WITHOUT A LOGIN" in out and "!!!!!!!!" in out


def test_gpu_speed_flags(monkeypatch):
    from webui.config import parse_settings

    s = parse_settings(["--compile", "--fuse-qkv", "--vram-budget", "20GB"])
    assert (s.compile, s.fuse_qkv, s.vram_budget) == (True, True, "20GB")
    monkeypatch.setenv("WEBUI_COMPILE", "1")
    assert parse_settings([]).compile and not parse_settings([]).fuse_qkv
    with pytest.raises(SystemExit):
        parse_settings(["--vram-budget", "lots"])


def test_max_image_pixels_flag_reaches_the_settings():
    assert parse_settings(["--max-image-pixels", "12345"]).limits.max_image_pixels == 12345


def _serve_until_up(proc, port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
            return
        except OSError:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, f"app did not start in {timeout:g} s"
            time.sleep(0.5)


def test_listen_prints_the_lan_addresses(tiny_models_dir, tmp_path):
    """``--listen`` tells the URL another device types: this machine's network addresses."""
    import ipaddress
    import signal
    import socket

    import psutil

    from tests.helpers import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "launch.py", "--listen", "--auth", "ann:pw", "--port", str(port),
         "--models-dir", str(tiny_models_dir), "--outputs-dir", str(tmp_path / "o"),
         "--data-dir", str(tmp_path / "d")], cwd=ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _serve_until_up(proc, port)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    lan = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
           if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback
           and not ipaddress.ip_address(a.address).is_link_local]
    network_line = next(line for line in out.splitlines() if "On your network:" in line)
    if lan:
        for ip in lan:
            assert f"http://{ip}:{port}/" in network_line
    else:
        assert "no network address found" in network_line
    assert "127.0.0.1" not in network_line


def test_console_one_line_per_mistake_no_noise_and_a_quiet_ctrl_c(tiny_models_dir, tmp_path):
    """What the console shows through a session: a user's mistake (bad size, unknown or
    offline hub checkpoint; by the UI and the API) is one line, not a traceback; LoRA
    switches, fp16 VAE upcasts and model loads print no third-party chatter; Ctrl-C with
    a tab open (its event stream connected) ends at once, with no traceback."""
    import http.client
    import json
    import signal

    from gradio_client import Client

    from tests.helpers import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "launch.py", "--api", "--port", str(port), "--models-dir",
         str(tiny_models_dir), "--outputs-dir", str(tmp_path / "o"), "--data-dir",
         str(tmp_path / "d"), "--device", "cpu", "--dtype", "fp16", "--ckpt", "tiny-sdxl-a"],
        cwd=ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    stopped_in = None
    try:
        _serve_until_up(proc, port)

        def api(body: dict) -> int:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/sdapi/v1/txt2img", data=json.dumps(
                    {"prompt": "x", "steps": 1, "width": 64, "height": 64} | body).encode(),
                headers={"Content-Type": "application/json"})
            try:
                return urllib.request.urlopen(req, timeout=120).status
            except urllib.error.HTTPError as err:
                return err.code

        # two LoRAs on one module (peft's "Already found a peft_config"), fp16 VAE upcast
        # (diffusers' "should be kept in float32: []"), first loads (progress bars)
        assert api({"prompt": "x <lora:tiny-lora-a:1>"}) == 200
        assert api({"prompt": "x <lora:tiny-lora-b:1>"}) == 200
        assert api({"width": 100}) == 400
        assert api({"override_settings": {"sd_model_checkpoint": "no-such-model"}}) == 404
        ui = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for kw in ({"width": 100}, {"model": "stabilityai/stable-diffusion-xl-base-1.0"}):
            with pytest.raises(Exception, match="multiple of 8|runs offline"):
                ui.predict(prompt="x", steps=1, **({"width": 64, "height": 64} | kw),
                           api_name="/txt2img")
        # a tab's heartbeat stream stays open until the server ends it
        tab = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        tab.request("GET", "/gradio_api/heartbeat/console-test")
        assert tab.getresponse().status == 200
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            out, _ = proc.communicate()
    assert "Traceback" not in out, out
    assert proc.returncode == 0, out
    assert stopped_in < 4.5, f"Ctrl-C took {stopped_in:.1f} s (waited for open streams)"
    assert out.rstrip().endswith("Stopped."), out[-500:]
    assert "On your network" not in out  # without --listen only loopback is served
    lines = out.splitlines()
    mistakes = {"width must be a multiple of 8, got 100": 2,  # the API's and the UI's
                "'no-such-model' not found": 1, "runs offline (HF_HUB_OFFLINE is set)": 1}
    for text, times in mistakes.items():
        assert sum(text in line for line in lines) == times, (text, out)
    for noise in ("kept in float32", "peft_config", "Loading pipeline components",
                  "Loading weights", "requires torchvision", "setup plugin", "it/s]",
                  "Deprecat", "FutureWarning", "ERROR"):
        assert noise not in out, (noise, out)


def test_ctrl_c_during_a_job_stops_it_and_exits_quietly(tiny_models_dir, tmp_path):
    """Ctrl-C while a long job runs: the job stops at its next step, the server ends without
    a traceback and the process exits, instead of waiting for the whole job."""
    import json
    import signal
    import threading

    from tests.helpers import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "launch.py", "--api", "--port", str(port), "--models-dir",
         str(tiny_models_dir), "--outputs-dir", str(tmp_path / "o"), "--data-dir",
         str(tmp_path / "d"), "--device", "cpu"], cwd=ROOT,
        env=dict(os.environ, HF_HUB_OFFLINE="1"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    answer = {}
    try:
        _serve_until_up(proc, port)
        base = f"http://127.0.0.1:{port}/sdapi/v1"

        def long_job():  # minutes of work on the tiny model
            req = urllib.request.Request(base + "/txt2img", data=json.dumps(
                {"prompt": "x", "steps": 150, "width": 256, "height": 256, "n_iter": 20}
            ).encode(), headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=300) as r:
                answer.update(json.load(r))

        caller = threading.Thread(target=long_job, daemon=True)
        caller.start()
        deadline = time.monotonic() + 120
        while json.load(urllib.request.urlopen(base + "/progress", timeout=10))[
                "progress"] <= 0:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in out and "ERROR" not in out, out
    assert "Stopping 1 job(s) at their next step" in out
    assert "interrupted" in out and out.rstrip().endswith("Stopped."), out[-800:]
    assert took < 30, f"exit took {took:.0f} s"
    caller.join(30)
    assert answer.get("images") == []  # the caller got its (empty) answer, not a reset
