"""Cost of putting an event's seat map back into an empty Redis (RESTORE_LUA).

    python bench/seat_map_restore.py                  # 500 and 50,000 seats
    python bench/seat_map_restore.py --seats 100000

Starts its own redis-server on a free port (no persistence) and kills it at the
end; needs no database (it runs the script with generated holds and sold seats,
half each). Prints the time of one restore, and of one hold script call with
the loaded-marker check, as the per-request baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seats", type=int, nargs="*", default=[500, 50_000])
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    import django

    django.setup()
    import redis

    from ticketing.seat_locks import HOLD_LUA, RESTORE_LUA

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp()
    server = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", workdir], stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        restore, hold = client.register_script(RESTORE_LUA), client.register_script(HOLD_LUA)
        print("| seats | restore (ms) |\n|---|---|")
        for seats in options.seats:
            client.flushdb()
            keys = ["loaded"] + [f"tk:{{ev1}}:seat:{i}" for i in range(seats)]
            args: list = []
            for i in range(seats):
                args += ["hold-token", 600_000] if i % 2 else ["sold", 0]
            started = time.perf_counter()
            restore(keys=keys, args=args)
            print(f"| {seats:,} | {(time.perf_counter() - started) * 1000:.1f} |")
        calls = 2000
        started = time.perf_counter()
        for i in range(calls):
            hold(keys=["loaded", "fence", f"tk:{{ev1}}:seat:x{i}"], args=["t", 1000])
        per_call = (time.perf_counter() - started) / calls * 1e6
        print(f"\nhold script incl. loaded check, one round trip: {per_call:.0f} us")
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
