"""The shipped example services: SGD's schemas, train, dev and test together.

    >>> schemas = example_schemas()
    >>> schemas["Restaurants_1"].intent("ReserveRestaurant").required_slots
    ('restaurant_name', 'city', 'time')
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from lepton_tf.data.paths import data_dir
from lepton_tf.dialogue.schema import Schema, load_schema

SCHEMA_FILES = ("schema_train.json.gz", "schema_dev.json.gz", "schema_test.json.gz")
DEFAULT_BACKENDS_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "dialogue" / \
    "backends.yaml"


def merge_schemas(paths) -> Schema:
    """One schema of the services of ``paths`` (a service in several: the first file's).

    Raises:
        SchemaError: a file that is missing or malformed.
    """
    services = {}
    for path in paths:
        for name, service in load_schema(path).items():
            services.setdefault(name, service)
    return Schema(tuple(services.values()), ", ".join(os.fspath(p) for p in paths))


@functools.lru_cache(maxsize=1)
def example_schemas() -> Schema:
    """All SGD services of the vendored schema files (45 services)."""
    return merge_schemas([data_dir() / "sgd" / name for name in SCHEMA_FILES])
