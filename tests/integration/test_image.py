"""The image's install, replayed without Docker.

No Docker engine runs here, so the test rebuilds what the Dockerfile would, step by step, on a fresh
virtualenv: first what ``FROM apache/airflow:<version>-python<X.Y>`` holds (Airflow at that version with the
celery, postgres and redis extras, pinned by constraints.txt — the official image's own constraints are out
of reach), then the Dockerfile's own COPY and RUN steps, parsed from the file and run with their paths mapped
into a temporary root. An install step that would fail in ``docker build`` fails here; a package the DAGs or
the plugin import but the install leaves out shows as an import error. Airflow then runs as in the compose
file: AIRFLOW_HOME stands for /opt/airflow, with the repo's folders where docker-compose.yaml mounts them.

The base virtualenv takes a minute to install, so it is kept under var/image-base/, keyed by constraints.txt,
the Airflow and Python versions and the extras; each run copies it and replays the project's install afresh.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

IMAGE = "apache/airflow"
EXTRAS = "celery,postgres,redis"  # the image's extras that docker-compose.yaml's deployment runs on
IMAGE_AIRFLOW_HOME = "/opt/airflow"  # the official image's AIRFLOW_HOME (and so its dags/ and plugins/)
BASE_CACHE = ROOT / "var" / "image-base"
BASE_RECIPE = "1"  # bump when the way the base is built changes


@dataclass
class Dockerfile:
    airflow_version: str
    python_version: str | None
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources in the context, destination)
    runs: list[list[str]] = field(default_factory=list)  # each RUN's commands, split on &&, as argv lists


def parse_dockerfile(text: str) -> Dockerfile:
    """The instructions the test knows how to replay; anything else fails the test rather than be skipped."""
    logical, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends in a line continuation"
    parsed = None
    for line in logical:
        instruction, _, rest = line.strip().partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            assert parsed is None, "one stage only: the test replays a single FROM"
            found = re.fullmatch(rf"{re.escape(IMAGE)}:(\d+\.\d+\.\d+)(?:-python(\d+\.\d+))?", rest.strip())
            assert found, f"FROM {rest.strip()}: the test replays {IMAGE}:<version>[-python<X.Y>] only"
            parsed = Dockerfile(found[1], found[2])
        elif instruction == "USER":
            assert parsed is not None and rest.strip() == "airflow", "pip in the official image runs as airflow"
        elif instruction == "COPY":
            words = [w for w in shlex.split(rest) if not w.startswith("--chown=")]
            assert words and not any(w.startswith("--") for w in words), f"COPY {rest}: flags not replayed"
            parsed.copies.append((words[:-1], words[-1]))
        elif instruction == "RUN":
            commands = [shlex.split(part) for part in rest.split("&&")]
            for argv in commands:
                assert argv[:2] == ["pip", "install"], f"RUN {' '.join(argv)}: the test replays pip install only"
            parsed.runs.append(commands)
        else:
            pytest.fail(f"{instruction} {rest}: an instruction this test does not replay yet (teach it)")
    assert parsed is not None, "no FROM line"
    return parsed


def ignored(context: Path) -> list[str]:
    lines = (context / ".dockerignore").read_text().splitlines() if (context / ".dockerignore").exists() else []
    return [line.strip().removeprefix("**/") for line in lines if line.strip() and not line.startswith("#")]


def replay_copy(sources: list[str], destination: str, root: Path) -> None:
    """Docker's COPY: a file goes into a destination ending in / (or is the destination), a folder's contents
    go into the destination folder."""
    target = root / destination.lstrip("/")
    skip = shutil.ignore_patterns(*ignored(ROOT))
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"COPY {source}: not in the build context"
        if path.is_dir():
            shutil.copytree(path, target, ignore=skip, dirs_exist_ok=True)
        elif destination.endswith("/") or len(sources) > 1:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def mapped(argv: list[str], root: Path, destinations: list[str]) -> list[str]:
    """The RUN line's container paths (those under a COPY destination) moved into the temporary root."""
    tops = {"/" + d.strip("/").split("/")[0] for d in destinations}

    def move(word: str) -> str:
        if any(word == top or word.startswith(top + "/") for top in tops):
            return str(root) + word
        option, equals, value = word.partition("=")
        if equals and option.startswith("-"):
            return option + "=" + move(value)
        return word

    # --no-cache-dir only keeps the image small; here pip's cache makes the replay fast. Resolution is the same.
    return [move(word) for word in argv if word != "--no-cache-dir"]


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    assert done.returncode == 0 or not check, (
        f"{shlex.join(argv)} exited {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    )
    return done.stdout


def base_venv(spec: Dockerfile, interpreter: str) -> Path:
    """What the official image holds, installed once per lock and kept (var/ is not in git)."""
    key = hashlib.sha256()
    for part in ((ROOT / "constraints.txt").read_bytes(), spec.airflow_version, spec.python_version, EXTRAS):
        key.update(part if isinstance(part, bytes) else part.encode())
    key.update(BASE_RECIPE.encode())
    home = BASE_CACHE / f"airflow-{spec.airflow_version}-py{spec.python_version}-{key.hexdigest()[:16]}"
    BASE_CACHE.mkdir(parents=True, exist_ok=True)
    with open(f"{home}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run building the same base waits for it
        if not (home / "complete").exists():
            shutil.rmtree(home, ignore_errors=True)
            run([interpreter, "-m", "venv", str(home / "venv")])
            python = str(home / "venv" / "bin" / "python")
            run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
            run([python, "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"),
                 f"apache-airflow[{EXTRAS}]=={spec.airflow_version}"])  # fmt: skip
            (home / "complete").write_text(run([python, "-m", "pip", "freeze"]))
    return home / "venv"


def fresh_copy(base: Path, target: Path) -> Path:
    """A copy of the base virtualenv that is its own: scripts' shebangs point into the copy."""
    shutil.copytree(base, target, symlinks=True)
    old, new = str(base).encode(), str(target).encode()
    for script in (target / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            data = script.read_bytes()
            if data.startswith(b"#!") and old in data:
                script.write_bytes(data.replace(old, new))
    return target


def compose_airflow_home(home: Path) -> dict[str, str]:
    """AIRFLOW_HOME laid out as docker-compose.yaml mounts the repo into /opt/airflow; the compose file's own
    WECHAT_* settings with their paths mapped likewise."""
    common = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["x-airflow-common"]
    for volume in common["volumes"]:
        source, target = volume.split(":")[:2]
        name = Path(target).relative_to(IMAGE_AIRFLOW_HOME).as_posix()
        if (ROOT / source).is_dir() and name != "logs":
            (home / name).parent.mkdir(parents=True, exist_ok=True)
            (home / name).symlink_to(ROOT / source, target_is_directory=True)
    env = {
        k: str(v).replace(IMAGE_AIRFLOW_HOME, str(home))
        for k, v in common["environment"].items()
        if k.startswith("WECHAT_") or k == "AIRFLOW__CORE__LOAD_EXAMPLES"
    }
    return env


def expected_dag_ids() -> set[str]:
    """Every wechat_* DAG the dags/ folder declares: the literal dag_ids and one per declared campaign file."""
    ids = set()
    for path in (ROOT / "dags").glob("*.py"):
        ids |= set(re.findall(r"""dag_id\s*=\s*["'](wechat_\w+)["']""", path.read_text()))
    from wechat_campaigns.integration.declared import declared_campaigns

    ids |= {declared.dag_id for declared in declared_campaigns(ROOT / "include" / "campaigns")}
    return ids


IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
failed = []
for top in ("wechat_campaigns", "wechat_sandbox"):
    for info in pkgutil.walk_packages(importlib.import_module(top).__path__, top + "."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue  # Alembic's scripts run inside Alembic only; __main__ starts a server
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
sys.exit("\\n".join(failed) or None)
"""


def json_rows(output: str) -> list[dict]:
    """The JSON list that Airflow's ``-o json`` prints after any log lines (``[]`` when there is none)."""
    lines = [line for line in output.splitlines() if line.startswith("[")]
    assert lines, f"no JSON list in Airflow's output:\n{output[-6000:]}"
    return json.loads(lines[-1])


def test_the_images_install_imports_every_dag_and_the_plugin(tmp_path):
    spec = parse_dockerfile((ROOT / "Dockerfile").read_text())
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert spec.python_version, (
        f"FROM {IMAGE}:{spec.airflow_version} runs that release's default Python (3.12 for recent ones), not "
        f"the Python {ours} that constraints.txt and requires-python are for: name it, -python{ours}"
    )
    interpreter = shutil.which(f"python{spec.python_version}")
    assert interpreter, f"python{spec.python_version} (the image's) is not installed here"

    venv = fresh_copy(base_venv(spec, interpreter), tmp_path / "venv")
    python = str(venv / "bin" / "python")

    root = tmp_path / "image"
    for sources, destination in spec.copies:
        replay_copy(sources, destination, root)
    destinations = [destination for _, destination in spec.copies]
    for commands in spec.runs:
        for argv in commands:
            run([python, "-m", *mapped(argv, root, destinations)], cwd=tmp_path)

    installed = run([python, "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"])
    assert installed.strip() == spec.airflow_version, "the install moved Airflow off the image's version"

    home = tmp_path / "opt-airflow"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "WECHAT_", "PYTHON"))}
    env |= compose_airflow_home(home)
    env |= {"AIRFLOW_HOME": str(home), "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}"}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"

    def airflow(*args: str, check: bool = True) -> str:
        return run([python, "-m", "airflow", *args], env=env, cwd=tmp_path, check=check)

    airflow("db", "migrate")
    # list-import-errors exits 1 when it lists some; what it lists is the message that matters.
    errors = json_rows(airflow("dags", "list-import-errors", "--local", "-o", "json", check=False))
    assert errors == [], "\n\n".join(f"{e.get('filepath')}:\n{e.get('error')}" for e in errors)
    listed = {row["dag_id"] for row in json_rows(airflow("dags", "list", "--local", "-o", "json"))}
    assert expected_dag_ids() <= listed, f"missing DAGs: {sorted(expected_dag_ids() - listed)}"
    plugins = json_rows(airflow("plugins", "-o", "json"))
    assert "wechat_campaigns" in {plugin["name"] for plugin in plugins}, plugins
    # Beyond what the DAGs and the plugin reach: every module of the package (the CLI the compose services
    # run, the callback receiver, the sandbox) imports with what the install brought.
    run([python, "-c", IMPORT_EVERY_MODULE], env=env, cwd=tmp_path)
    assert run([python, "-m", "pip", "check"]).strip() == "No broken requirements found."
