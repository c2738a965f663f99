"""Embedded server speaking the TF Serving API (gRPC + REST)."""
