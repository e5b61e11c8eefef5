"""The floor of each serving stack on this machine: a handler that does nothing.

    .venv/bin/python benchmarks/bench_grpc_floor.py [--duration 8] [--pin]

Three servers answer one small message by echoing it, with no model and no pmmlkit code:
grpc.aio on uvloop (what ``pmmlkit serve`` runs gRPC on), grpc's thread-pool server, and
Starlette on uvicorn (what it runs REST on). Each one runs alone on 127.0.0.1 and is loaded
at concurrency 1 and 64 for ``--duration`` seconds after a 2 s warm-up: h2load for gRPC (a
unary call as an HTTP/2 POST of the framed message), wrk for REST. What a server framework
costs per call bounds what any server on it can do, whatever its handler does. ``--pin``
runs each server on one core (``taskset -c 0``): grpc.aio hands every call between its
poller thread and the event loop, and that hand-off costs most across cores.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PY = sys.executable
SERVERS = {
    "grpc.aio (uvloop)": textwrap.dedent("""
        import sys, grpc, uvloop
        async def main():
            server = grpc.aio.server()
            async def echo(request, context):
                return request
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.S", {
                "M": grpc.unary_unary_rpc_method_handler(
                    echo, request_deserializer=bytes, response_serializer=bytes)}),))
            server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
            await server.start()
            await server.wait_for_termination()
        uvloop.run(main())
        """),
    "grpc thread pool": textwrap.dedent("""
        import sys, grpc
        from concurrent.futures import ThreadPoolExecutor
        server = grpc.server(ThreadPoolExecutor(max_workers=16))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.S", {
            "M": grpc.unary_unary_rpc_method_handler(
                lambda request, context: request, request_deserializer=bytes,
                response_serializer=bytes)}),))
        server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
        server.start()
        server.wait_for_termination()
        """),
    "Starlette on uvicorn": textwrap.dedent("""
        import sys, uvicorn
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route
        async def echo(request):
            return Response(await request.body())
        app = Starlette(routes=[Route("/e", echo, methods=["POST"])])
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                    access_log=False)
        """),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--pin", action="store_true", help="each server on core 0")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pmmlkit-floor-"))
    message = b'{"instances": [1.0, 2.0]}'
    (folder / "body.bin").write_bytes(b"\0" + len(message).to_bytes(4, "big") + message)
    (folder / "post.lua").write_text(f'wrk.method = "POST"\nwrk.body = {message.decode()!r}\n')
    rows = ["| server | concurrency | requests/s |", "|---|---|---|"]
    for name, code in SERVERS.items():
        port = free_port()
        script = folder / "server.py"
        script.write_text(code)
        pin = ["taskset", "-c", "0"] if args.pin else []
        proc = subprocess.Popen([*pin, PY, str(script), str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(3)
        try:
            for concurrency in (1, 64):
                if name.startswith("grpc"):
                    out = subprocess.run(
                        ["h2load", "-t1", f"-c{concurrency}", "-m1", f"-D{args.duration:g}",
                         "--warm-up-time=2", "-d", str(folder / "body.bin"), "-H",
                         "content-type: application/grpc", "-H", "te: trailers",
                         f"http://127.0.0.1:{port}/t.S/M"], capture_output=True,
                        text=True).stdout
                    found = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
                else:
                    url = f"http://127.0.0.1:{port}/e"
                    subprocess.run(["wrk", "-t1", "-c1", "-d2s", "-s",
                                    str(folder / "post.lua"), url], capture_output=True)
                    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}",
                                          f"-d{args.duration:g}s", "-s",
                                          str(folder / "post.lua"), url],
                                         capture_output=True, text=True).stdout
                    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
                rps = float(found[1]) if found else 0.0
                rows.append(f"| {name} | {concurrency} | {rps:,.0f} |")
                print(rows[-1], flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
