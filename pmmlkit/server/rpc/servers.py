"""Starting and stopping the gRPC servers: one ``grpc.aio`` server per protocol, in the
running event loop (the REST app's lifespan calls :func:`start`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import grpc

from pmmlkit.server.rpc import tf, v2

if TYPE_CHECKING:
    from pmmlkit.server.core import Server

log = logging.getLogger("pmmlkit.server")


class RpcServers:
    """The running gRPC servers of one app."""

    def __init__(self, servers: list[grpc.aio.Server], ports: dict[str, int]):
        self.servers = servers
        #: protocol -> the port it listens on (useful when asked for port 0... of the OS)
        self.ports = ports

    async def stop(self, grace: float) -> None:
        """Stop taking calls; calls under way get ``grace`` seconds to finish."""
        for server in self.servers:
            await server.stop(grace)


async def start(server: Server) -> RpcServers:
    """Start the gRPC servers ``server.config`` asks for (a port of 0 is off)."""
    config = server.config
    options = [("grpc.max_receive_message_length", config.max_body_bytes),
               ("grpc.max_send_message_length", -1),
               ("grpc.so_reuseport", 0)]
    servers, ports = [], {}
    for protocol, port, handlers in (("tfserving", config.grpc_port, tf.handlers),
                                     ("v2", config.v2_grpc_port, v2.handlers)):
        if not port:
            continue
        rpc = grpc.aio.server(options=options)
        rpc.add_generic_rpc_handlers(tuple(handlers(server)))
        address = f"{config.grpc_host}:{port}"
        try:
            bound = rpc.add_insecure_port(address)
        except RuntimeError as exc:
            bound, reason = 0, f": {exc}"
        else:
            reason = ""
        if bound == 0:
            raise OSError(f"gRPC ({protocol}): cannot listen on {address} (in use, or not "
                          f"an address of this machine){reason}")
        await rpc.start()
        log.info("gRPC (%s) listening on %s", "TensorFlow Serving" if protocol == "tfserving"
                 else "Open Inference Protocol", address)
        servers.append(rpc)
        ports[protocol] = port
    return RpcServers(servers, ports)


__all__ = ["RpcServers", "start"]
