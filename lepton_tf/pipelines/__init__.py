"""Distributed indexing on Apache Beam (the optional `beam` extra).

Layer: above `index` (it builds and publishes index versions), below
`indexing` (which chooses it or an in-process build). Import `lepton_tf.pipelines.index_pipeline` only where
apache-beam is installed (`pip install 'lepton-tf[beam]'`).
"""
