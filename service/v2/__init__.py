"""The Open Inference Protocol (KServe V2) for the digits model, so Triton/KServe clients work as is.

``errors`` (ProtocolError), ``schemas`` (the messages), ``binary`` (Triton's binary tensor framing),
``inference`` (the model contract on V2 tensors, metadata, classification), ``statistics`` and
``model_config`` (the extensions' content) are transport-neutral and never import Litestar;
``repository`` (index, load = the reload, unload) is shared by both transports. ``routes`` is the REST
transport (mounted at ``/v2``) with ``openapi`` its OpenAPI pieces; ``grpc`` is the gRPC transport
(Triton's GRPCInferenceService), started by the app's lifespan beside HTTP.
"""
