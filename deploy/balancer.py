"""What sits in front of scripts/stack's workers: nginx with deploy/nginx.conf, or a TCP balancer.

- `nginx_config(...)`: deploy/nginx.conf (the docker-compose.yml one) with its upstream
  servers replaced by the local workers' ports, listening on a loopback port, wrapped in
  the few top-level lines a standalone `nginx -c` needs (pid, temp paths, logs in one
  directory). Same balancing (`least_conn`), same WebSocket upgrade and timeouts.
- `python -m deploy.balancer --listen 127.0.0.1:8000 --backend 127.0.0.1:8001 ...`: a
  least-connections TCP balancer in pure asyncio, for machines without nginx. It copies
  bytes both ways (HTTP and WebSocket alike) to the backend with the fewest open
  connections, skipping one that refuses for `--fail-timeout` seconds (nginx's
  max_fails/fail_timeout, simplified). It adds no X-Forwarded-For: run the workers with
  NUM_PROXIES=0 behind it (scripts/stack does).

No Django imports: scripts/stack uses this before Django is set up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX_SITE = ROOT / "deploy" / "nginx.conf"


def nginx_config(*, listen: str, backends: list[str], static_root: Path, prefix: Path) -> str:
    """A complete nginx.conf around deploy/nginx.conf for local `backends` ("host:port")."""
    site = NGINX_SITE.read_text()
    upstream = re.search(r"upstream tombola_web \{(.*?)\n\}", site, re.S)
    if upstream is None:
        raise ValueError("deploy/nginx.conf has no `upstream tombola_web` block")
    keep = [line for line in upstream.group(1).splitlines()
            if line.strip() and not line.strip().startswith("server ")]
    servers = [f"    server {b} max_fails=2 fail_timeout=5s;" for b in backends]
    site = site.replace(upstream.group(0),
                        "upstream tombola_web {\n" + "\n".join(keep + servers) + "\n}")
    site, listens = re.subn(r"listen 80;", f"listen {listen};", site)
    site, aliases = re.subn(r"alias /app/staticfiles/;", f"alias {static_root}/;", site)
    if listens != 1 or aliases != 1:
        raise ValueError("deploy/nginx.conf changed shape: update deploy/balancer.py")
    return f"""# Rendered by deploy/balancer.py from deploy/nginx.conf for scripts/stack.
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    include /etc/nginx/mime.types;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{site}
}}
"""


class Balancer:
    def __init__(self, backends: list[tuple[str, int]], *, fail_timeout: float = 5.0) -> None:
        self.backends = backends
        self.open = dict.fromkeys(backends, 0)
        self.down_until = dict.fromkeys(backends, 0.0)
        self.fail_timeout = fail_timeout

    def candidates(self) -> list[tuple[str, int]]:
        now = time.monotonic()
        up = [b for b in self.backends if self.down_until[b] <= now] or list(self.backends)
        return sorted(up, key=lambda b: self.open[b])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for backend in self.candidates():
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*backend)
            except OSError:
                self.down_until[backend] = time.monotonic() + self.fail_timeout
                continue
            self.open[backend] += 1
            try:
                await asyncio.gather(_pipe(reader, upstream_writer),
                                     _pipe(upstream_reader, writer))
            finally:
                self.open[backend] -= 1
            return
        writer.close()  # every backend refused: the client sees the connection close


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def serve(listen: tuple[str, int], backends: list[tuple[str, int]],
                fail_timeout: float) -> None:
    balancer = Balancer(backends, fail_timeout=fail_timeout)
    server = await asyncio.start_server(balancer.handle, *listen, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"balancer on {listen[0]}:{listen[1]} -> "
          f"{', '.join(f'{h}:{p}' for h, p in backends)}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="host:port")
    parser.add_argument("--backend", action="append", required=True, help="host:port (repeat)")
    parser.add_argument("--fail-timeout", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(serve(_address(args.listen), [_address(b) for b in args.backend],
                      args.fail_timeout))


if __name__ == "__main__":
    main()
