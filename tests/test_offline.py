"""The tool must work on an air-gapped PC and must never phone home.

A sitecustomize on PYTHONPATH replaces socket connects and DNS lookups with a
function that logs the attempt and fails, in the driver and in every spawned
worker (each new interpreter imports sitecustomize).  A deliberate connect in
the driver proves the trap is armed; a load log proves it reached the workers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import shared_paths

REPO = Path(__file__).resolve().parents[1]
FACES = shared_paths.DATA / "faces" / "images"

SITECUSTOMIZE = '''
import os, socket

_LOG = os.environ["NET_TRAP_LOG"]


def _note(what):
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {what}\\n")


def _blocked(*args, **kwargs):
    _note("connect " + repr([a for a in args if not isinstance(a, socket.socket)]))
    raise OSError("network disabled by test_offline")


def _no_dns(*args, **kwargs):
    _note("getaddrinfo " + repr(args))
    raise socket.gaierror("network disabled by test_offline")


socket.socket.connect = _blocked
socket.socket.connect_ex = _blocked
socket.create_connection = _blocked
socket.getaddrinfo = _no_dns
with open(os.environ["NET_TRAP_LOADED"], "a", encoding="utf-8") as fh:
    fh.write(f"{os.getpid()}\\n")
'''

RUNNER = '''
import socket, sys
from pathlib import Path
from sanitize.batch import collect_inputs, run_batch
from sanitize.config import Settings

if __name__ == "__main__":
    try:
        socket.create_connection(("127.0.0.1", 9))
    except OSError:
        pass
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    results = run_batch(collect_inputs([src], out), out, Settings(), jobs=2, progress=False)
    bad = [(r.input, r.error) for r in results if r.status.value == "error"]
    print("RESULTS", len(results), "ERRORS", bad)
    sys.exit(1 if bad else 0)
'''


def test_batch_runs_with_network_blocked(tmp_path: Path) -> None:
    trap = tmp_path / "trap"
    trap.mkdir()
    (trap / "sitecustomize.py").write_text(SITECUSTOMIZE)
    runner = tmp_path / "runner.py"  # a file, not -c: spawned workers re-import __main__
    runner.write_text(RUNNER)
    src = tmp_path / "in"
    src.mkdir()
    for name in ("grace_hopper.jpg", "neg_landscape.jpg", "kids_group.jpg"):
        shutil.copyfile(FACES / name, src / name)
    log, loaded = tmp_path / "net.log", tmp_path / "loaded.log"
    env = {**os.environ, "PYTHONPATH": f"{trap}{os.pathsep}{REPO}",
           "NET_TRAP_LOG": str(log), "NET_TRAP_LOADED": str(loaded)}

    proc = subprocess.run([sys.executable, str(runner), str(src), str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULTS 3" in proc.stdout

    attempts = log.read_text().splitlines()
    driver_pid = attempts[0].split()[0]
    assert attempts[0].endswith("connect [('127.0.0.1', 9)]")  # the trap works
    assert attempts[1:] == [], attempts  # and nothing else tried the network
    pids = set(loaded.read_text().split())
    assert driver_pid in pids and len(pids) >= 2  # the trap was armed in the workers too
