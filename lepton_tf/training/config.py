"""Training configuration: one YAML file holds every hyper-parameter and the seed."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs, so that a config and a seed reproduce it.

    Attributes:
        name: run name; also the servable name the run exports by default.
        output_dir: where checkpoints, the step backup and TensorBoard logs go.
        seed: seeds Python, NumPy, TensorFlow and every shuffle.
        strategy: one of `default`, `mirrored`, `multi_worker` (reads
            `TF_CONFIG`), `tpu`.
        tpu: TPU address for the `tpu` strategy (empty string: local TPU).
        epochs: number of epochs.
        steps_per_epoch: steps in an epoch; the input stream repeats forever
            so that a resumed run continues at the exact step it stopped.
        batch_size: global batch size (split over replicas).
        learning_rate: peak learning rate.
        warmup_steps: linear warm-up steps before a cosine decay to zero.
        weight_decay: AdamW decoupled weight decay.
        clipnorm: global gradient-norm clip, 0 for none.
        precision: `float32`, `mixed_float16` or `mixed_bfloat16` (pays off on
            GPU and TPU; on CPU it is slower).
        jit_compile: compile the train step with XLA.
        deterministic: make TensorFlow ops deterministic (slower on GPU).
        backup_every_steps: write the step backup every N steps.
        keep_checkpoints: epoch checkpoints kept.
        model: model hyper-parameters, read by the model builder.
        data: data options, read by the task's input pipeline.
    """

    name: str = "model"
    output_dir: str = "runs/model"
    seed: int = 0
    strategy: str = "default"
    tpu: str = ""
    epochs: int = 1
    steps_per_epoch: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 0
    weight_decay: float = 0.0
    clipnorm: float = 0.0
    precision: str = "float32"
    jit_compile: bool = False
    deterministic: bool = True
    backup_every_steps: int = 50
    keep_checkpoints: int = 2
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Fails fast on a value that would only break hours into a run.

        Raises:
            ValueError: naming the field and the values it accepts.
        """
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy={self.strategy!r} is not one of {STRATEGIES}.")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision={self.precision!r} is not one of {PRECISIONS}.")
        for field in ("epochs", "steps_per_epoch", "batch_size",
                      "backup_every_steps", "keep_checkpoints"):
            if int(getattr(self, field)) <= 0:
                raise ValueError(f"{field} must be positive, got "
                                 f"{getattr(self, field)!r}.")
        if self.learning_rate <= 0:
            raise ValueError(
                f"learning_rate must be positive, got {self.learning_rate!r}.")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.clipnorm < 0:
            raise ValueError(
                "warmup_steps, weight_decay and clipnorm must be >= 0.")

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Builds a config, refusing unknown keys (a typo must not be ignored).

        Raises:
            ValueError: for a key that is not a field.
        """
        return parse_section(cls, values, "")

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def parse_section(cls, values: dict[str, Any] | None, section: str):
    """Builds dataclass `cls` from a config mapping, refusing unknown keys.

    A typo in a config must fail at once, naming the keys that would work,
    instead of being silently ignored hours into a run.

    Example:

    >>> @dataclasses.dataclass
    ... class Data:
    ...     vocab: str = "v.txt"
    >>> parse_section(Data, {"vocab": "w.txt"}, "data")
    Data(vocab='w.txt')
    >>> parse_section(Data, {"vocabb": "w.txt"}, "data")
    Traceback (most recent call last):
    ...
    ValueError: Unknown keys ['vocabb'] in the `data:` section; known keys are ['vocab'].

    Args:
        cls: the section's dataclass.
        values: the mapping read from YAML (None: all defaults).
        section: the section's name for the message (`""`: the top level).

    Returns:
        The dataclass instance.

    Raises:
        ValueError: for a key that is not a field, or a mapping that is not one.
    """
    values = {} if values is None else values
    where = f" in the `{section}:` section" if section else ""
    if not isinstance(values, dict):
        raise ValueError(f"Expected a mapping{where}, got {type(values).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        label = "config keys" if not section else "keys"
        raise ValueError(f"Unknown {label} {unknown}{where}; known keys are {sorted(known)}.")
    return cls(**values)


def load_config(path: str | os.PathLike, **overrides) -> TrainConfig:
    """Reads a YAML config file; `overrides` win over the file.

    Args:
        path: YAML file whose top-level keys are `TrainConfig` fields.
        **overrides: fields to set regardless of the file (None is ignored).

    Returns:
        The validated `TrainConfig`.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for unknown keys or invalid values, naming the file.
    """
    import yaml

    with open(path, encoding="utf-8") as f:
        values = yaml.safe_load(f) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of config keys.")
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.from_dict(values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


def save_config(config: TrainConfig, path: str | os.PathLike) -> None:
    """Writes the config next to the run's outputs, so the run can be redone."""
    import yaml

    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(config.to_dict(), f, sort_keys=False)
    os.replace(tmp, path)
