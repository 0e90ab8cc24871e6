"""`make serve`: make sure a token exists, print where to point Okta, then run gunicorn."""

from __future__ import annotations

import os
import sys

from app import config, extensions
from app.definitions import SchemaError


def main() -> None:
    """Print the base URL and token, then replace this process with gunicorn."""
    settings, generated = config.ensure_token(config.from_env())
    if settings.schemas_dir:
        # Checked again by every worker; here a broken document is one clear line, before
        # gunicorn's "Worker failed to boot".
        try:
            extensions.load(settings.schemas_dir)
        except SchemaError as exc:
            sys.exit(f"SCIM_SCHEMAS_DIR: {exc}")
        print(f"Schemas:       {os.path.abspath(settings.schemas_dir)}")
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    workers = os.environ.get("WORKERS", str(os.cpu_count() or 2))
    base = settings.base_url or f"http://{host}:{port}/scim/v2"
    print(f"SCIM base URL: {base}")
    print(f"Database:      {config.shown_db(settings.db_path)}")
    root = base.removesuffix("/").removesuffix("/scim/v2")
    print(f"Console:       {root}/console (sign in with the token)")
    if generated:
        print(f"Token (new, kept in {settings.token_file}): {settings.tokens[0]}")
    elif not os.environ.get("SCIM_TOKEN"):
        print(f"Token: read from {settings.token_file}")
    else:
        print("Token: from SCIM_TOKEN")
    sys.stdout.flush()
    os.environ["SCIM_WORKERS"] = workers  # a tenant's rate is shared by the workers (app/rates.py)
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    os.execv(
        gunicorn,
        [
            gunicorn,
            "--workers",
            workers,
            "--bind",
            f"{host}:{port}",
            "--worker-class",
            "app.worker.ScimWorker",
            "--graceful-timeout",
            "10",
            # gunicorn's control socket defaults to one path per user (~/.gunicorn): a second
            # server on the machine, or a restart after kill -9, would meet this one's there.
            # Nothing here uses gunicornc; signals still manage the server.
            "--no-control-socket",
            "app.main:create_app()",
        ],
    )


if __name__ == "__main__":
    main()
