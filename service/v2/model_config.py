"""The model configuration extension: the served model described as Triton's ``ModelConfig``.

The message type is Triton's own (``model_config_pb2`` generated from model_config.proto, shipped by
tritonclient); the facts are those of ``models/digits/config.pbtxt`` (name, platform, tensors, version
policy), built from the served model and the contract rather than read from that file, so a model
served from ``DIGITS_MODEL_PATH`` is described too. ``max_batch_size`` is this server's real limit
(``DIGITS_MAX_BATCH``); Triton's scheduler settings (dynamic batching, instance groups) describe Triton,
not this server, and are left out. REST answers the message as Triton's JSON, gRPC as the message.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from tritonclient.grpc import model_config_pb2

import contract
from service.model import DigitModel
from service.v2.inference import PLATFORM


def model_config(model: DigitModel, max_batch: int) -> model_config_pb2.ModelConfig:
    """The served model as Triton's ModelConfig (dims leave out the batch dimension, as Triton's do)."""
    return model_config_pb2.ModelConfig(
        name=model.name,
        platform=PLATFORM,
        max_batch_size=max_batch,
        input=[
            model_config_pb2.ModelInput(
                name=model.input_name,
                data_type=model_config_pb2.TYPE_FP32,
                dims=list(contract.INPUT_SHAPE[1:]),
            )
        ],
        output=[
            model_config_pb2.ModelOutput(
                name=name, data_type=model_config_pb2.TYPE_FP32, dims=list(shape[1:])
            )
            for name, shape in zip(
                model.output_names, (contract.OUTPUT_SHAPE, contract.DIGIT_SCORE_SHAPE), strict=False
            )
        ],
        version_policy=model_config_pb2.ModelVersionPolicy(
            latest=model_config_pb2.ModelVersionPolicy.Latest(num_versions=1)
        ),
    )


def message_json(message: Message) -> dict[str, Any]:
    """A message as Triton's REST JSON: proto field names, enums by name, int64 as numbers (protobuf's
    own JSON mapping writes int64 as strings; Triton's HTTP endpoint converts them back)."""
    return {field.name: _field_json(field, value) for field, value in message.ListFields()}


def _field_json(field: FieldDescriptor, value: Any) -> Any:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return {key: _value_json(value_field, item) for key, item in value.items()}
    if field.is_repeated:
        return [_value_json(field, item) for item in value]
    return _value_json(field, value)


def _value_json(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_json(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values_by_number[value].name
    return value
