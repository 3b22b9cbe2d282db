"""Run the sandbox as a child process (tests, the demo and the benchmark do).

    with start_sandbox(log=Path("var/sandbox.log")) as url:
        SandboxAdmin(url).reset()

The child is ``python -m wechat_sandbox``; its ready line gives the URL (``port=0`` picks a free port), its
log goes to ``log`` (or a temporary file), and leaving the block stops it with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

READY_PREFIX = "wechat-sandbox ready on "
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


class SandboxServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str | os.PathLike[str] | None = None,
        state: str | os.PathLike[str] | None = None,
        tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
        log: str | os.PathLike[str] | None = None,
        cpu: int | None = None,
        python: str = sys.executable,
    ) -> None:
        self.args = [python, "-m", "wechat_sandbox", "--host", host, "--port", str(port)]
        if seed:
            self.args += ["--seed", str(seed)]
        if state:
            self.args += ["--state", str(state)]
        if tls:  # (certificate, key): the sandbox speaks HTTPS
            self.args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        self.log_path = Path(log) if log else Path(tempfile.mkstemp(prefix="wechat-sandbox-", suffix=".log")[1])
        self.cpu = cpu
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> str:
        """Start the child and wait for its ready line; returns the base URL."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cpu = self.cpu

        def pin() -> None:  # runs in the child before exec: the whole sandbox stays on one CPU
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])),
        }
        with self.log_path.open("a") as log:
            process = self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.args, stdout=subprocess.PIPE, stderr=log, text=True, env=env, preexec_fn=pin
            )
        stdout = process.stdout
        assert stdout is not None  # stdout=PIPE
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        ready = line[0].strip() if line else ""
        if not ready.startswith(READY_PREFIX):
            process.kill()
            process.wait()
            raise RuntimeError(f"the sandbox did not start (got {ready!r}); log:\n{self.log_text()}")
        self.base_url = ready[len(READY_PREFIX) :]
        return self.base_url

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stop the child (SIGTERM by default) and return its exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def start_sandbox(**options: Any) -> Iterator[str]:
    """A running sandbox for the duration of the block; yields its base URL. Options as ``SandboxServer``."""
    server = SandboxServer(**options)
    server.start()
    try:
        yield server.base_url
    except BaseException:
        server.stop()
        raise
    code = server.stop()
    if code != 0:
        raise RuntimeError(f"the sandbox exited with status {code}; log:\n{server.log_text()}")
