"""A tiny synthetic task and a command-line entry for trainer subprocess tests.

Run as `python tests/tiny_task.py OUTPUT_DIR [--strategy S] [--epochs N]
[--sleep-per-step SECONDS]`; prints `WEIGHTS <sha256>` and writes
`weights.npz` under OUTPUT_DIR when done.
"""

import argparse
import hashlib
import os
import sys
import time

import numpy as np


class TinyTask:
    """Binary classification of 16-d Gaussian points with a small MLP + dropout."""

    def __init__(self, sleep_per_step: float = 0.0):
        self.sleep_per_step = sleep_per_step

    def build_model(self, config):
        import keras
        inputs = keras.Input((16,))
        x = keras.layers.Dense(32, activation="relu")(inputs)
        x = keras.layers.Dropout(0.2)(x)
        return keras.Model(inputs, keras.layers.Dense(1)(x))

    def compile_args(self, config):
        import keras
        return {"loss": keras.losses.BinaryCrossentropy(from_logits=True)}

    def train_dataset(self, config):
        import tensorflow as tf
        from lepton_tf.data.stream import epoch_shuffled_stream
        rng = np.random.RandomState(config.seed)
        x = rng.randn(512, 16).astype("float32")
        y = (x[:, :4].sum(1) > 0).astype("float32")[:, None]
        ds = epoch_shuffled_stream((x, y), batch_size=config.batch_size,
                                   seed=config.seed)
        if self.sleep_per_step:
            delay = self.sleep_per_step

            def slow(a, b):
                tf.py_function(lambda: time.sleep(delay), [], [])
                return a, b
            ds = ds.map(slow)
        return ds

    def validation_dataset(self, config):
        return None


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=10)
    parser.add_argument("--backup-every", type=int, default=3)
    parser.add_argument("--sleep-per-step", type=float, default=0.0)
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from lepton_tf.training import TrainConfig, Trainer
    config = TrainConfig(name="tiny", output_dir=args.output_dir, seed=7,
                         strategy=args.strategy, epochs=args.epochs,
                         steps_per_epoch=args.steps_per_epoch, batch_size=16,
                         learning_rate=1e-2, warmup_steps=2,
                         backup_every_steps=args.backup_every)
    model = Trainer(config, verbose=0).fit(TinyTask(args.sleep_per_step))
    weights = model.get_weights()
    digest = hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()
    os.makedirs(args.output_dir, exist_ok=True)
    np.savez(os.path.join(args.output_dir, "weights.npz"), *weights)
    print("STEP", int(model.optimizer.iterations.numpy()), flush=True)
    print("WEIGHTS", digest, flush=True)


if __name__ == "__main__":
    main()
