"""In-graph checks of a signature's string inputs, run before any op that
could abort the process on a shape or a string it does not expect.

A signature's `TensorSpec([None], tf.string)` is a hint, not a check: TF
Serving's `Session::Run` (and the embedded server's flat call) feed a
placeholder whatever shape a request carries. Given a scalar, a `[1, 0]`
batch or a rank-33 tensor, tensorflow-text's tokenizers and the ragged ops
behind them abort or crash the whole process, every model with it. Two
consequences shape this module:

- Grappler folds a rank check away: the placeholder's `[None]` makes the
  rank "known" to be 1, so `tf.rank`, `tf.shape(tf.shape(x))` and asserts on
  them never run. `EnsureShape` is the op that checks the fed shape at run
  time, so the rank is checked with it.
- Every later op must depend on the checked tensor itself (data, not only a
  control dependency), so nothing can run ahead of the checks.

The messages name the input and the expected shape; TF Serving and the
embedded server answer them as INVALID_ARGUMENT (gRPC) / 400 (REST).
"""

from __future__ import annotations

import tensorflow as tf


def check_string_batch(text: tf.Tensor, name: str, *, require_text: bool = False) -> tf.Tensor:
    """`text`, checked to be a non-empty batch of strings (`[B]`, B >= 1).

    Args:
        text: the signature's string input, declared `[None]`.
        name: the input's name, as a client knows it (`text`, `context`).
        require_text: also refuse empty or blank strings and bytes that are
            not UTF-8 (a generator has nothing to read in them). Without it
            they pass as TF Serving passes bytes: the tokenizers take them.

    Returns:
        `text` after the checks (use it, not the argument, downstream).

    Raises:
        tf.errors.InvalidArgumentError: at run time, for a rank other than 1
            ("`name` must be a batch of strings of shape [B]") or an empty
            batch; with `require_text`, for an empty or blank string or bytes
            that are not UTF-8.

    >>> import tensorflow as tf
    >>> check_string_batch(tf.constant(["hello"]), "text").numpy()
    array([b'hello'], dtype=object)
    >>> check_string_batch(tf.constant([""]), "text", require_text=True)
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...text must not hold an empty or blank string...
    """
    # The op's name is what EnsureShape's message shows, so it says the rule.
    text = tf.ensure_shape(text, [None], name=f"{name}_must_be_a_batch_of_strings_of_shape_B")
    # `tf.debugging.Assert` with only string data runs as one op; the
    # `assert_*` helpers wrap each check in a conditional, which costs more.
    checks = [tf.debugging.Assert(tf.size(text) > 0, [
        f"{name} must be a batch of strings of shape [B] with B >= 1; got an empty batch"])]
    if require_text:
        blank = tf.equal(tf.strings.strip(text), "")
        # Transcoding valid UTF-8 to itself changes nothing; invalid bytes
        # become U+FFFD, so a difference means the input was not UTF-8.
        valid = tf.equal(tf.strings.unicode_transcode(
            text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD), text)
        checks += [
            tf.debugging.Assert(tf.logical_not(tf.reduce_any(blank)), [
                f"{name} must not hold an empty or blank string"]),
            tf.debugging.Assert(tf.reduce_all(valid), [f"{name} must be valid UTF-8"])]
    with tf.control_dependencies(checks):
        return tf.identity(text)


def check_shape(value: tf.Tensor, shape, name: str) -> tf.Tensor:
    """`value`, checked at run time to have `shape` (`None`: any size there), so a
    tensor of another rank is refused before any op reads it.

    Args:
        value: a signature's input.
        shape: the signature's shape for it, e.g. `[None, None]`.
        name: the input's name, as a client knows it.

    Raises:
        tf.errors.InvalidArgumentError: at run time, for another rank or size;
            the message names the input.
    """
    return tf.ensure_shape(value, shape, name=f"{name}_must_have_the_signature_shape")


def check_scalar(value: tf.Tensor, name: str) -> tf.Tensor:
    """`value`, checked at run time to be a scalar (see the module's note on
    why the signature's `[]` is not enough).

    Raises:
        tf.errors.InvalidArgumentError: at run time, for any other shape.
    """
    return tf.ensure_shape(value, [], name=f"{name}_must_be_a_scalar")
