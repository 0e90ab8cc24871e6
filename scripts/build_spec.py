"""`make spec`: write the published spec to dist/ as one self-contained YAML and JSON file each.

The published spec is openapi/scim.yaml with the schema extensions and resource types declared
in SCIM_SCHEMAS_DIR merged in (app/published.py), the spec a server with the same setting runs
and serves at /scim/v2/openapi.json; without the setting it is the file as maintained. The spec
has no external references, so "self-contained" means: that document, with its `info.version`
checked against the package version in pyproject.toml.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `app` importable
    sys.path.insert(0, str(ROOT))

from app import config, spec  # noqa: E402


def build(schemas_dir: str | None) -> dict[str, Any]:
    """The published spec for a SCIM_SCHEMAS_DIR (None: openapi/scim.yaml as it is)."""
    config.use(config.get().with_overrides(schemas_dir=schemas_dir))
    return spec.published_spec()


def main() -> int:
    """Check the version, then write dist/scim.yaml and dist/scim.json."""
    schemas_dir = os.environ.get("SCIM_SCHEMAS_DIR") or None
    document = build(schemas_dir)
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    if document["info"]["version"] != package:
        print(f"info.version {document['info']['version']} != package version {package}")
        return 1
    dist = ROOT / "dist"
    dist.mkdir(exist_ok=True)
    if schemas_dir is None:
        (dist / "scim.yaml").write_text(spec.SPEC_PATH.read_text())
    else:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
        (dist / "scim.yaml").write_text(text)
    (dist / "scim.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    declared = f", with {schemas_dir}" if schemas_dir else ""
    print(f"wrote {dist / 'scim.yaml'} and {dist / 'scim.json'} (version {package}{declared})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
