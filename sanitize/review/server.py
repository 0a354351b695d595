"""`sanitize review`: serve the app on a local port and print the one link to it."""

from __future__ import annotations

import getpass
import logging
import secrets
import sys
import webbrowser
from pathlib import Path

from werkzeug.serving import make_server

from sanitize.review.app import create_app


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container
        return "reviewer"


def serve(out_root: Path, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          reviewer: str | None = None) -> None:
    token = secrets.token_urlsafe(24)
    app = create_app(out_root, token, reviewer or default_reviewer(), host)
    # The request log would print the token of the first page load; nothing else
    # of it is needed by a user, so it stays quiet.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server(host, port, app, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_port}/?token={token}"
    print(f"review: {url}", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["sanitize_review"].close()
        sys.stdout.flush()
