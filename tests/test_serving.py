"""Serving: a spec whose operationId does not resolve stops gunicorn at start (exit 3).

Under uvicorn's default lifespan "auto" such a server would start and answer every request with
a plain-text 500 (CONTRIBUTING.md, "Connexion behaviours we route around"); app.worker.ScimWorker sets lifespan "on".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts gunicorn

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def test_bad_operation_id_stops_the_server(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "app", tmp_path / "app")
    shutil.copytree(ROOT / "openapi", tmp_path / "openapi")
    spec = tmp_path / "openapi" / "scim.yaml"
    text = spec.read_text()
    assert "operationId: app.users.get\n" in text
    spec.write_text(
        text.replace("operationId: app.users.get\n", "operationId: app.users.missing\n")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
    env |= {"SCIM_DB": str(tmp_path / "scim.db"), "SCIM_TOKEN": "t"}
    command = [
        str(GUNICORN), "--workers", "1", "--bind", "127.0.0.1:0", "--no-control-socket",
        "--worker-class", "app.worker.ScimWorker", "app.main:create_app()",
    ]  # fmt: skip
    finished = subprocess.run(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60
    )
    output = finished.stdout.decode(errors="replace")
    assert finished.returncode == 3, output[-2000:]
    assert "Failed to add operation for GET /scim/v2/Users/{user_id}" in output


def test_a_broken_schema_document_stops_the_server(tmp_path: Path) -> None:
    """SCIM_SCHEMAS_DIR is checked as gunicorn's workers boot (issue #10): the log names the
    file and the problem, and gunicorn exits instead of serving."""
    schemas = tmp_path / "schemas"
    shutil.copytree(ROOT / "examples" / "schemas", schemas)
    document = schemas / "acme_user.json"
    document.write_text(document.read_text().replace('"type": "integer"', '"type": "int"', 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
    env |= {
        "SCIM_DB": str(tmp_path / "scim.db"),
        "SCIM_TOKEN": "t",
        "SCIM_SCHEMAS_DIR": str(schemas),
    }
    command = [
        str(GUNICORN), "--workers", "1", "--bind", "127.0.0.1:0", "--no-control-socket",
        "--worker-class", "app.worker.ScimWorker", "app.main:create_app()",
    ]  # fmt: skip
    finished = subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60
    )
    output = finished.stdout.decode(errors="replace")
    assert finished.returncode != 0, output[-2000:]
    assert "acme_user.json: attributes[3] (clearanceLevel): type 'int' must be" in output, output[
        -2000:
    ]
