"""Every campaign the README triggers (``airflow dags trigger ... -c``, ``curl ... /dagRuns``) passes Airflow's
form checks and ``validate`` against the demo account (``make demo``, ``make airflow``) in the sandbox.

The examples are taken from README.md's bash blocks as bash itself reads them: each block runs with
``airflow``, ``curl`` and ``jq`` replaced by functions that write down their arguments, so quoting and
substitutions such as ``$(date ...)`` come out as a data engineer's shell would pass them."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from demo.__main__ import APPID, SECRET, TEMPLATE_ID, seed
from tests.conftest import ROOT
from tests.e2e.conftest import connect, parse_campaign_dag
from tests.fixtures.sandbox import SandboxAccount

pytestmark = pytest.mark.slow

BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
RECORD = r"""
_record() { printf '%s\0' "$@" >> "$CALLS"; printf '\36' >> "$CALLS"; }
airflow() { _record airflow "$@"; }
curl() { _record curl "$@"; echo '{"access_token": "made-up"}'; }
jq() { cat > /dev/null; echo made-up; }
"""


def commands_in_readme() -> list[list[str]]:
    """Each ``airflow``/``curl`` call of README.md's bash blocks that trigger something, as its argv."""
    calls: list[list[str]] = []
    for block in BASH_BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")):
        if "airflow dags trigger" not in block and "/dagRuns" not in block:
            continue
        with tempfile.NamedTemporaryFile() as out:
            env = {"CALLS": out.name, "PATH": "/usr/bin:/bin"}
            subprocess.run(["bash", "-c", RECORD + block], env=env, check=True, stdout=subprocess.DEVNULL)
            records = Path(out.name).read_bytes().split(b"\x1e")
        calls += [[arg.decode() for arg in record.split(b"\0")[:-1]] for record in records if record]
    return calls


def example_confs() -> list[tuple[str, dict[str, Any]]]:
    """(the command as the README shows its start, its conf) for every trigger."""
    found = []
    for argv in commands_in_readme():
        if argv[:3] == ["airflow", "dags", "trigger"]:
            conf = argv[argv.index("-c" if "-c" in argv else "--conf") + 1]
            found.append((" ".join(argv[:4]), json.loads(conf)))
        elif argv[0] == "curl" and any(arg.endswith("/dagRuns") for arg in argv):
            body = json.loads(argv[argv.index(next(a for a in ("-d", "--data", "--json") if a in argv)) + 1])
            assert "logical_date" in body, "a REST trigger gives logical_date (null: now) with the conf"
            found.append(("curl POST .../dagRuns", body["conf"]))
    return found


EXAMPLES = example_confs()


def test_the_readme_triggers_one_campaign_of_each_kind_by_cli_and_rest():
    kinds = {conf.get("message_type") for _, conf in EXAMPLES}
    assert kinds == {"mass", "customer_service", "template"}
    assert any(command.startswith("curl") for command, _ in EXAMPLES)
    assert any(conf.get("template_id") == TEMPLATE_ID for _, conf in EXAMPLES)  # the demo's template


@pytest.fixture
def demo_account(sandbox, store_url, monkeypatch, airflow_db):
    """The demo account of ``make demo`` in the sandbox, behind the ``wechat_default`` connection."""
    seed(sandbox)
    account = SandboxAccount(sandbox.base_url, sandbox, APPID, SECRET, [], TEMPLATE_ID, "")
    connect(monkeypatch, account, store_url)
    return account


@pytest.mark.parametrize(("command", "conf"), EXAMPLES, ids=[f"{i}: {c}" for i, (c, _) in enumerate(EXAMPLES)])
def test_each_readme_example_passes_validate_on_the_demo_account(demo_account, command, conf):
    from wechat_campaigns.campaigns import validation
    from wechat_campaigns.integration.tasks import campaign_run

    params = copy.deepcopy(parse_campaign_dag().params)
    params.update(conf)  # what Airflow does with a trigger's conf, and its checks of the form's types
    context = {"params": params.validate(), "dag_run": SimpleNamespace(dag_id="wechat_campaign", run_id=command)}
    run = campaign_run(context, check_send_at=True)  # what the validate task does
    checked = validation.validate(run)
    assert checked["kind"] == conf["message_type"]
    assert demo_account.admin.inbox_counts(APPID) == {}  # validate sends nothing
