"""TensorFlow's CPU thread pools for a serving process.

TF Serving sizes its session's thread pools with `--tensorflow_intra_op_parallelism`
and `--tensorflow_inter_op_parallelism` (0: TensorFlow's choice); `lepton-tf serve`
takes the same flags, e.g. to leave cores to other processes on a shared host.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def configure_tensorflow(intra_op_parallelism: int = 0, inter_op_parallelism: int = 0) -> bool:
    """Sizes TensorFlow's thread pools; call it before TensorFlow runs its first op.

    Args:
        intra_op_parallelism: threads one op may use (0: TensorFlow's choice,
            the number of cores).
        inter_op_parallelism: ops run at once (0: TensorFlow's choice).

    Returns:
        True if applied (or nothing asked); False, with a warning and nothing
        changed, when the TensorFlow runtime had already started in this process.

    Raises:
        ValueError: a negative thread count.
    """
    if intra_op_parallelism < 0 or inter_op_parallelism < 0:
        raise ValueError("Thread counts must be >= 0 (0: TensorFlow's choice); got "
                         f"intra {intra_op_parallelism}, inter {inter_op_parallelism}.")
    if not (intra_op_parallelism or inter_op_parallelism):
        return True
    import tensorflow as tf

    try:
        if intra_op_parallelism:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op_parallelism)
        if inter_op_parallelism:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op_parallelism)
    except RuntimeError:  # "... cannot be modified after initialization"
        log.warning("TensorFlow is already running in this process; "
                    "--tensorflow_*_op_parallelism are ignored.")
        return False
    return True
