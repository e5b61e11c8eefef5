"""gRPC: TensorFlow Serving's PredictionService and ModelService, and the Open Inference
Protocol's GRPCInferenceService, on ``grpc.aio`` in the event loop of the REST server, over
the same core (:class:`pmmlkit.server.core.Server`). See ``docs/serving.md``."""

from pmmlkit.server.rpc.servers import RpcServers, start

__all__ = ["RpcServers", "start"]
