"""`make spec`: write the published spec to dist/ as one self-contained YAML and JSON file each.

The spec has no external references, so "self-contained" means: the file as maintained, with
its `info.version` checked against the package version in pyproject.toml.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Check the version, then write dist/scim.yaml and dist/scim.json."""
    spec_text = (ROOT / "openapi" / "scim.yaml").read_text()
    document = yaml.safe_load(spec_text)
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    if document["info"]["version"] != package:
        print(f"info.version {document['info']['version']} != package version {package}")
        return 1
    dist = ROOT / "dist"
    dist.mkdir(exist_ok=True)
    (dist / "scim.yaml").write_text(spec_text)
    (dist / "scim.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {dist / 'scim.yaml'} and {dist / 'scim.json'} (version {package})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
