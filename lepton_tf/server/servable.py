"""What the server hosts: a named, versioned set of signatures.

SavedModels are one kind of `Servable`; Python-implemented servables (the
ScaNN `search`, the `assistant`) are another, because stock TF Serving
cannot host ScaNN ops. The server validates requests against `signatures`
before calling `run`, so both kinds give the same errors.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature.

    Attributes:
        name: the alias clients use (the key of `PredictRequest.inputs`).
        dtype: numpy dtype name: `string` (bytes), `float32`, `int32`, ...
        shape: dimensions, `None` for unknown; `None` for unknown rank.
    """

    name: str
    dtype: str
    shape: tuple | None = None


@dataclasses.dataclass(frozen=True)
class Signature:
    """A named function of a servable, as `GetModelMetadata` describes it."""

    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    method_name: str = PREDICT_METHOD


class Servable(abc.ABC):
    """A loaded version of a model.

    Attributes:
        name: the model name clients put in `model_spec.name`.
        version: the version number.
    """

    name: str
    version: int

    @property
    @abc.abstractmethod
    def signatures(self) -> dict[str, Signature]:
        """Signature name -> `Signature`; include `serving_default`."""

    @abc.abstractmethod
    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one signature on already validated inputs.

        Args:
            signature_name: a key of `signatures`.
            inputs: input alias -> numpy array (strings as `object` arrays of
                `bytes`).

        Returns:
            Output alias -> numpy array.

        Raises:
            ValueError: for inputs the servable cannot answer (the server
                reports INVALID_ARGUMENT with the message).
        """

    def close(self) -> None:
        """Releases resources when the version is unloaded."""
