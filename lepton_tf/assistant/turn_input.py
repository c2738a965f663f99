"""What a turn accepts: the message checks and whose session it is."""

from __future__ import annotations

from lepton_tf.server import identity

MAX_MESSAGE_CHARS = 2000


def check_message(session_id: str, message: str) -> str:
    """The stripped message.

    Args:
        session_id: the caller's conversation id.
        message: the user's words.

    Returns:
        `message` with its whitespace runs collapsed to single spaces.

    Raises:
        ValueError: a missing session id, an empty or too long message.
    """
    if not session_id or not session_id.strip():
        raise ValueError("session_id must not be empty.")
    if len(session_id) > 200:
        raise ValueError("session_id is longer than 200 characters.")
    message = " ".join(message.split())
    if not message:
        raise ValueError("message must not be empty.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise ValueError(f"message is longer than {MAX_MESSAGE_CHARS} characters.")
    return message


def session_key(session_id: str) -> str:
    """Where the calling principal's conversation `session_id` is kept.

    A conversation belongs to its caller: the same id from another principal
    is another session (its last results never answer "the second one" for
    them). Unrestricted callers (a shared token, no auth) share ids.
    """
    return identity.owned_session(identity.current(), session_id)
