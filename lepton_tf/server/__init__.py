"""Embedded server speaking the TF Serving API (gRPC + REST).

Kept import-light (servables import `lepton_tf.server.servable`); the pieces:

- `servable`: the `Servable` interface every hosted model implements.
- `saved_model_servable`: any SavedModel (TF2, TF1 session fallback).
- `model_manager`, `version_policy`, `config`, `protos`: models.config, versions,
  labels, polling, reload, availability.
- `inference`, `tensors`, `metadata`, `errors`, `deadline`: the API semantics
  and TF Serving's status codes, shared by both fronts.
- `grpc_service`, `rest`, `rest_json`: the fronts; `batching`, `metrics`,
  `warmup_replay`: what wraps a servable version.
- `app`: `ModelServer` and `ServerOptions`, what `lepton-tf serve` runs.

The server knows nothing of search or the assistant: those packages build
Python servables and register them here through the `Servable` interface.
"""
