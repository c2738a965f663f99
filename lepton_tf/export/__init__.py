"""Export: SavedModels in TF Serving layout, atomic and validated."""

from lepton_tf.export.exporter import VersionExistsError, export_servable
from lepton_tf.export.layout import latest_version_path, list_versions
from lepton_tf.export.validate import ExportValidationError, run_in_fresh_process
from lepton_tf.export.warmup import read_warmup_requests, write_warmup_requests

__all__ = ["ExportValidationError", "VersionExistsError", "export_servable",
           "latest_version_path", "list_versions", "read_warmup_requests",
           "run_in_fresh_process", "write_warmup_requests"]
