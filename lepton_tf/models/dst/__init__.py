"""The schema-guided dialogue state tracker (keras-hub layout: backbone, preprocessor, task model)."""

from lepton_tf.models.dst.dst_backbone import DSTBackbone
from lepton_tf.models.dst.dst_heads import STATUS_NAMES, SchemaHeads
from lepton_tf.models.dst.dst_preprocessor import DSTPreprocessor
from lepton_tf.models.dst.schema_elements import ServiceElements
from lepton_tf.models.dst.state_tracker_model import StateTrackerModel

__all__ = ["DSTBackbone", "DSTPreprocessor", "STATUS_NAMES", "SchemaHeads", "ServiceElements", "StateTrackerModel"]
