"""Tasks: a model and its data for the `Trainer`, one per servable."""
