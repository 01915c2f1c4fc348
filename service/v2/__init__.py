"""The Open Inference Protocol (KServe V2) for the digits model, so Triton/KServe clients work as is.

``errors`` (ProtocolError), ``schemas`` (the messages), ``binary`` (Triton's binary tensor framing) and
``inference`` (the model contract on V2 tensors, metadata) are transport-neutral; ``routes`` is the REST
transport (mounted at ``/v2``) and ``openapi`` its OpenAPI pieces. A second transport (gRPC) reuses the
neutral modules. Nothing here imports Litestar except ``routes`` and ``openapi``.
"""
