"""pytest at the repo root: modules of an optional extra are not collected
(as doctests) where the extra is not installed; their tests skip and say why."""

import importlib.util

collect_ignore_glob = []
if importlib.util.find_spec("apache_beam") is None:  # the `beam` extra
    collect_ignore_glob += ["lepton_tf/pipelines/index_pipeline.py",
                            "lepton_tf/pipelines/encoder_handler.py"]
