"""Pydantic models for every request and response body (they are also the OpenAPI document's schemas).

Pixels sent as JSON are already in MNIST format (white digit on black, centred), 0..255, either a flat
list of 784 numbers or 28 rows of 28; they reach the model as pixels / 255 with no other change.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic.json_schema import SkipJsonSchema

import contract
from service import linefit
from service.predictions import new_prediction_id

N_PIXELS = contract.IMAGE_SIZE * contract.IMAGE_SIZE
MAX_BATCH_SIZE = 10_000_000  # larger than any allowed data set; sizes above n mean full-batch

Pixel = Annotated[float, Field(ge=0, le=contract.PIXEL_MAX, strict=True, allow_inf_nan=False)]
FlatPixels = Annotated[list[Pixel], Field(min_length=N_PIXELS, max_length=N_PIXELS)]
PixelRow = Annotated[list[Pixel], Field(min_length=contract.IMAGE_SIZE, max_length=contract.IMAGE_SIZE)]
PixelRows = Annotated[list[PixelRow], Field(min_length=contract.IMAGE_SIZE, max_length=contract.IMAGE_SIZE)]


def _pixel_layout(value: Any) -> str:
    """Pick the branch by the first element, so a bad value gets one error, not one per union member."""
    return "rows" if isinstance(value, list) and value and isinstance(value[0], list) else "flat"


PixelGrid = Annotated[
    Annotated[FlatPixels, Tag("flat")] | Annotated[PixelRows, Tag("rows")],
    Discriminator(_pixel_layout),
    Field(
        description=f"{N_PIXELS} numbers 0..{contract.PIXEL_MAX:g} (flat) or {contract.IMAGE_SIZE} rows of "
        f"{contract.IMAGE_SIZE}, MNIST format: white digit on black"
    ),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PixelsRequest(StrictModel):
    """One digit already in MNIST format."""

    pixels: PixelGrid


class BatchPixelsRequest(StrictModel):
    """Several digits already in MNIST format (at most DIGITS_MAX_BATCH, else 413)."""

    instances: list[PixelGrid] = Field(min_length=1)


class ModelRef(BaseModel):
    name: str
    version: str

    @classmethod
    def of(cls, model: Any) -> ModelRef:
        """The name and version of a loaded model (anything with ``name`` and ``version``)."""
        return cls(name=model.name, version=model.version)


class Prediction(BaseModel):
    prediction_id: str = Field(
        description="this prediction's id (also the X-Prediction-Id header): POST /feedback corrects it"
    )
    label: int = Field(ge=0, le=contract.NUM_CLASSES - 1, description="the most probable digit")
    probabilities: list[float] = Field(
        min_length=contract.NUM_CLASSES, max_length=contract.NUM_CLASSES, description="P(digit) for 0..9"
    )
    confidence: float = Field(ge=0, le=1, description="probabilities[label]")
    looks_like_digit: bool = Field(
        description=f"whether the picture looks like a digit at all: digit_score >= "
        f"{contract.DIGIT_SCORE_THRESHOLD:g} (models without a digit_score output: top probability >= "
        f"{contract.FALLBACK_MIN_CONFIDENCE:g}). The label and probabilities are given either way"
    )
    digit_score: float = Field(
        ge=0,
        le=1,
        description=f"the score looks_like_digit comes from: the model's '{contract.DIGIT_SCORE_NAME}' "
        "output (version 2 on), else the top probability",
    )
    model: ModelRef
    preprocessed: str | None = Field(
        None, description="with ?include=preprocessed: the 28x28 the model saw, base64 PNG (no data: prefix)"
    )

    @classmethod
    def of(cls, answer: Any, index: int, model: ModelRef, preprocessed: str | None = None) -> Prediction:
        """Image ``index`` of a ``service.model.Classification``: the one way every route (/predict,
        /predict/batch, each digit of /read) turns a model answer into a Prediction, with a new id."""
        row, label = answer.probabilities[index], int(answer.labels[index])
        return cls(
            prediction_id=new_prediction_id(),
            label=label,
            probabilities=[float(p) for p in row],
            confidence=float(row[label]),
            looks_like_digit=bool(answer.looks_like_digit[index]),
            digit_score=float(answer.digit_scores[index]),
            model=model,
            preprocessed=preprocessed,
        )


class Box(BaseModel):
    """Where a digit's ink lies, in the pixels of the picture as sent (after EXIF orientation)."""

    x: int = Field(ge=0, description="left edge")
    y: int = Field(ge=0, description="top edge")
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class ReadDigit(Prediction):
    """One digit of a /read answer: a Prediction (the same fields as /predict's) and its box."""

    box: Box


class ReadResult(BaseModel):
    """A line of handwritten digits read left to right."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "42",
                    "digits": [
                        {
                            "label": 4,
                            "probabilities": [0, 0, 0, 0, 0.99, 0, 0, 0, 0.01, 0],
                            "confidence": 0.99,
                            "model": {"name": "digits", "version": "1"},
                            "box": {"x": 12, "y": 8, "width": 60, "height": 96},
                        },
                        {
                            "label": 2,
                            "probabilities": [0, 0, 0.98, 0.02, 0, 0, 0, 0, 0, 0],
                            "confidence": 0.98,
                            "model": {"name": "digits", "version": "1"},
                            "box": {"x": 90, "y": 10, "width": 58, "height": 92},
                        },
                    ],
                    "model": {"name": "digits", "version": "1"},
                }
            ]
        }
    )

    text: str = Field(description="the digits' labels joined, left to right", examples=["2026"])
    digits: list[ReadDigit] = Field(description="one per digit found, left to right")
    model: ModelRef


class BatchPrediction(BaseModel):
    predictions: list[Prediction] = Field(description="one per image, in request order")
    model: ModelRef


class ClosedFormFit(BaseModel):
    """The exact least-squares line (normal equations), for comparison."""

    slope: float
    intercept: float
    loss: float = Field(description="mean squared error")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    model: ModelRef


class ContractInfo(BaseModel):
    """What the model takes and gives (contract.py)."""

    input_name: str = contract.INPUT_NAME
    output_name: str = contract.OUTPUT_NAME
    digit_score_name: str = Field(
        contract.DIGIT_SCORE_NAME,
        description=f"optional second output [N, 1]: >= {contract.DIGIT_SCORE_THRESHOLD:g} "
        "looks like a digit",
    )
    input_shape: list[int | None] = list(contract.INPUT_SHAPE)
    output_shape: list[int | None] = list(contract.OUTPUT_SHAPE)
    input_scale: str = f"pixels / {contract.PIXEL_MAX:g}, white digit on black, 28x28 MNIST format"
    mnist_mean: float = contract.MNIST_MEAN
    mnist_std: float = contract.MNIST_STD
    opset: int = contract.OPSET


class ServingInfo(BaseModel):
    """The limits and threads this server runs with."""

    workers: int
    intra_op_threads: int
    inter_op_threads: int
    max_body_bytes: int
    max_image_pixels: int
    max_full_decode_pixels: int
    max_batch: int
    fit_max_points: int
    fit_max_work: int


class ModelCard(BaseModel):
    name: str
    version: str
    file: str = Field(description="the model file name")
    trained_at: str | None = None
    data_sha256: str | None = None
    metrics: dict[str, float] = Field(
        description="from the model's metadata: test_accuracy, validation_accuracy..."
    )
    contract: ContractInfo
    settings: Any = Field(None, description="the training recipe the model card carries (JSON object)")
    history: Any = Field(
        None, description="per-epoch train/validation loss and accuracy, if the model card carries it"
    )
    metadata: dict[str, str] = Field(description="the raw ONNX metadata_props")
    serving: ServingInfo


# --- /fit-line ----------------------------------------------------------------------------------------

Coordinate = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _learning_rate_in_range(value: float) -> float:
    """The range check with the API's own words (pydantic's would say only 'less than or equal to 10')."""
    if not linefit.MIN_LEARNING_RATE < value <= linefit.MAX_LEARNING_RATE:
        raise ValueError(linefit.LEARNING_RATE_RANGE)
    return value


class FitLineRequest(StrictModel):
    """Points as ``x`` and ``y`` lists or as ``points`` pairs, plus SGD options (defaults reach the exact
    least-squares line on data of any scale: SGD runs on standardized data, see ``service.linefit``)."""

    model_config = ConfigDict(
        extra="forbid",  # the OpenAPI document says: x and y, or points (one of the two forms)
        json_schema_extra={"oneOf": [{"required": ["x", "y"]}, {"required": ["points"]}]},
    )

    x: list[Coordinate] | None = Field(None, min_length=2, description="x values (with y)")
    y: list[Coordinate] | None = Field(None, min_length=2, description="y values, same length as x")
    points: list[tuple[Coordinate, Coordinate]] | None = Field(
        None, min_length=2, description="[[x, y], ...] instead of x and y"
    )
    learning_rate: Annotated[float, AfterValidator(_learning_rate_in_range)] = Field(
        linefit.DEFAULT_LEARNING_RATE,
        strict=True,  # like the other options: "0.1" (a string) is not a number
        allow_inf_nan=False,
        json_schema_extra={
            "exclusiveMinimum": linefit.MIN_LEARNING_RATE,
            "maximum": linefit.MAX_LEARNING_RATE,
        },
        description="SGD step in standardized units: 0 < lr < 1 converges, >= 1 diverges (a result)",
    )
    epochs: int = Field(linefit.DEFAULT_EPOCHS, ge=linefit.MIN_EPOCHS, le=linefit.MAX_EPOCHS, strict=True)
    batch_size: int = Field(
        linefit.DEFAULT_BATCH_SIZE,
        ge=linefit.MIN_BATCH_SIZE,
        le=MAX_BATCH_SIZE,
        strict=True,
        description="the first epoch's mini-batch size; it doubles every epoch up to the whole data set",
    )
    seed: int = Field(linefit.DEFAULT_SEED, ge=0, le=2**32 - 1, strict=True, description="shuffling seed")
    fit_intercept: bool = Field(
        linefit.DEFAULT_FIT_INTERCEPT, strict=True, description="false: fit y = slope * x through the origin"
    )

    @model_validator(mode="after")
    def _one_form(self) -> FitLineRequest:
        if self.points is not None:
            if self.x is not None or self.y is not None:
                raise ValueError("send either x and y, or points, not both")
        elif self.x is None or self.y is None:
            raise ValueError("send x and y (lists of the same length), or points ([[x, y], ...])")
        elif len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} values but y has {len(self.y)}; they must pair up")
        return self

    def xy(self) -> tuple[list[float], list[float]]:
        if self.points is not None:
            return [p[0] for p in self.points], [p[1] for p in self.points]
        return self.x or [], self.y or []


class FitOptionsUsed(BaseModel):
    learning_rate: float
    epochs: int
    batch_size: int
    seed: int
    fit_intercept: bool


class FitLineResponse(BaseModel):
    slope: float = Field(description="a1 in y = a1*x1 + a2*x2, found by SGD")
    intercept: float = Field(description="a2 (x2 is a column of ones); 0 with fit_intercept=false")
    loss: float = Field(description="final mean squared error on the data")
    r2: float = Field(description="coefficient of determination of the SGD line")
    epochs_run: int
    status: Literal["converged", "max_epochs", "diverged"]
    loss_history: list[float] = Field(
        description=f"MSE by epoch, downsampled to <= {linefit.DEFAULT_MAX_HISTORY}"
    )
    history_epochs: list[int] = Field(
        description="the epoch of each loss_history entry (0 = before training)"
    )
    trajectory: list[tuple[float, float]] | None = Field(
        None, description="with ?include=trajectory: [slope, intercept] along the way, downsampled"
    )
    closed_form: ClosedFormFit
    options: FitOptionsUsed


# --- /feedback ----------------------------------------------------------------------------------------


class FeedbackRequest(StrictModel):
    """A user's correction of one prediction: the digit it really is, or that it is no digit at all."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["prediction_id", "label"]},
                {"required": ["prediction_id", "not_a_digit"]},
            ]
        },
    )

    prediction_id: str = Field(
        pattern=r"^[0-9a-f]{32}$", description="the id a prediction answered (body or X-Prediction-Id)"
    )
    # Optional, never null: the schema says so (SkipJsonSchema), and _one_answer refuses an explicit null.
    label: Annotated[int, Field(ge=0, le=contract.NUM_CLASSES - 1, strict=True)] | SkipJsonSchema[None] = (
        Field(None, description="the true digit")
    )
    not_a_digit: Literal[True] | SkipJsonSchema[None] = Field(
        None, description="true: the picture is not a digit"
    )

    @model_validator(mode="after")
    def _one_answer(self) -> FeedbackRequest:
        for name in ("label", "not_a_digit"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may not be null; leave it out instead")
        if (self.label is None) == (self.not_a_digit is None):
            raise ValueError('send either "label": 0-9 or "not_a_digit": true, exactly one of them')
        return self


class FeedbackStored(BaseModel):
    prediction_id: str
    label: int | None = Field(None, description="the stored correction (absent for not_a_digit)")
    not_a_digit: bool = False


class VersionFeedbackSummary(BaseModel):
    """The feedback so far on one model version."""

    model: ModelRef
    stored: int = Field(description="predictions of this version kept in the store")
    labelled: int = Field(description="... that a user labelled with a digit")
    correct: int = Field(description="... where that label agreed with the prediction")
    not_a_digit: int = Field(description="... that a user said are no digit")
    accuracy: float | None = Field(None, description="correct / labelled (absent before any label)")
    confusion: list[list[int]] = Field(
        description="10x10 counts: row = the user's label, column = the model's prediction"
    )


class FeedbackSummary(BaseModel):
    versions: list[VersionFeedbackSummary] = Field(description="one per model version with stored samples")
