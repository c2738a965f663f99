"""Intent heads on frozen MiniLM features: which head, which layers.

    python bench/intent_embeddings.py     # once: runs/intent_head/features.npz
    python bench/intent_head.py           # the table

Each head trains on the Banking77 train split minus a seeded, stratified 5%
(the calibration split of `configs/intent.yaml`'s data options), which sets
the out-of-scope threshold on the energy score so 95% of it is accepted;
reported on Banking77 test: accuracy, macro-F1, accepted share, and the
out-of-scope recall on SGD user turns and StackFAQ queries at that threshold.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _features(arrays, split, layers, normalize):
    x = arrays[f"{split}_x"].astype(np.float32)[:, layers, :]
    if normalize:
        x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return x.reshape(len(x), -1)


def train_head(x, y, num_classes, hidden, dropout, epochs, lr, weight_decay, seed,
               label_smoothing=0.0):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((x.shape[1],))
    h = inputs
    if hidden:
        h = keras.layers.Dropout(dropout)(h)
        h = keras.layers.Dense(hidden, activation="gelu")(h)
    h = keras.layers.Dropout(dropout)(h)
    model = keras.Model(inputs, keras.layers.Dense(num_classes)(h))
    steps = epochs * int(np.ceil(len(x) / 64))
    model.compile(optimizer=keras.optimizers.AdamW(
        keras.optimizers.schedules.CosineDecay(lr, steps, warmup_target=None),
        weight_decay=weight_decay),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                  label_smoothing=label_smoothing))
    model.fit(x, keras.utils.to_categorical(y, num_classes), batch_size=64, epochs=epochs,
              verbose=0, shuffle=True)
    return model


def main() -> None:
    from lepton_tf.data import IntentExample, banking77_labels
    from lepton_tf.evaluation.intent import macro_f1
    from lepton_tf.models.intent_servable import calibrate_threshold, in_scope_scores
    from lepton_tf.tasks.intent import stratified_split

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--features", default="runs/intent_head/features.npz", help="cached features")
    args = p.parse_args()
    arrays = dict(np.load(args.features))
    labels = banking77_labels()
    index = {label: i for i, label in enumerate(labels)}
    train_y_all = np.array([index[v] for v in arrays["train_y"]])
    examples = [IntentExample(str(i), str(v)) for i, v in enumerate(arrays["train_y"])]
    kept, held = stratified_split(examples, 0.05, 42)
    kept_i = np.array([int(e.text) for e in kept])
    held_i = np.array([int(e.text) for e in held])
    test_y = np.array([index[v] for v in arrays["test_y"]])
    variants = [
        # name, layers, normalize, hidden, dropout, epochs, lr, wd, smoothing
        ("linear, last layer", [5], True, 0, 0.0, 40, 1e-2, 1e-4, 0.0),
        ("linear, last layer, dropout .2", [5], True, 0, 0.2, 60, 1e-2, 1e-4, 0.0),
        ("linear, layers 4-5", [4, 5], True, 0, 0.2, 60, 1e-2, 1e-4, 0.0),
        ("linear, layers 3-5", [3, 4, 5], True, 0, 0.2, 60, 1e-2, 1e-4, 0.0),
        ("linear, all layers", list(range(6)), True, 0, 0.2, 60, 1e-2, 1e-4, 0.0),
        ("mlp 512, last layer", [5], True, 512, 0.2, 40, 3e-3, 1e-4, 0.0),
        ("mlp 1024, layers 3-5", [3, 4, 5], True, 1024, 0.3, 40, 3e-3, 1e-4, 0.0),
        ("mlp 1024, all layers", list(range(6)), True, 1024, 0.3, 40, 3e-3, 1e-4, 0.0),
    ]
    print("| head | train s | accuracy % | macro-F1 % | accepted % | OOS recall SGD % "
          "| OOS recall StackFAQ % |\n| --- | --- | --- | --- | --- | --- | --- |")
    for name, layers, norm, hidden, dropout, epochs, lr, wd, ls in variants:
        train_x = _features(arrays, "train", layers, norm)
        start = time.time()
        model = train_head(train_x[kept_i], train_y_all[kept_i], len(labels), hidden, dropout,
                           epochs, lr, wd, 42, ls)
        seconds = time.time() - start
        logits = lambda x: np.asarray(model.predict(x, batch_size=1024, verbose=0))
        threshold = calibrate_threshold(in_scope_scores(logits(train_x[held_i])), 0.95)
        test = logits(_features(arrays, "test", layers, norm))
        pred = test.argmax(1)
        accepted = np.mean(in_scope_scores(test) >= threshold)
        recalls = [np.mean(in_scope_scores(logits(_features(arrays, f"oos_{s}", layers, norm)))
                           < threshold) for s in ("sgd", "stackfaq")]
        print(f"| {name} | {seconds:.0f} | {100 * np.mean(pred == test_y):.2f} | "
              f"{100 * macro_f1(test_y, pred):.2f} | {100 * accepted:.1f} | "
              f"{100 * recalls[0]:.1f} | {100 * recalls[1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
