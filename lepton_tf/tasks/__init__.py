"""Tasks: a model and its data for the `Trainer`, one per servable.

`registry` names them (`discover`, `load`) and runs them (`train`,
`export_run`); the CLI's `lepton-tf train` / `export` are thin wrappers.
"""
