"""Evaluations behind `lepton-tf eval`: each module has a `register(subparsers)`."""
