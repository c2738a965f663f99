"""The user's answers the manager itself reads: yes, no, another one, cancel.

The tracked state says what the user wants (intent, slot values); whether they
just agreed to a confirmation or asked for another result is the manager's to
read, in the context of what it asked.

    >>> reply_kind("Yes please, go ahead"), reply_kind("no, make it 8 instead")
    ('affirm', 'negate')
    >>> reply_kind("Do you have anything else?"), reply_kind("never mind, cancel that")
    ('another', 'cancel')
"""

from __future__ import annotations

import re

AFFIRM, NEGATE, ANOTHER, CANCEL = "affirm", "negate", "another", "cancel"
_CANCEL = re.compile(r"\b(cancel|never ?mind|forget (it|about it)|stop|abort|scratch that)\b", re.I)
_ANOTHER = re.compile(r"\b(another|anything else|something else|other (one|options?|choices?)|"
                      r"next one|different one|more options|else\b.*\?|what else)", re.I)
_NEGATE = re.compile(r"^\s*(no|nope|nah|not really|don'?t|do not|wrong|that'?s not|not quite)\b", re.I)
_AFFIRM = re.compile(r"^\W*(yes|yeah|yea|yep|yup|sure|ok(ay)?|alright|all right|correct|right|exactly|"
                     r"indeed|certainly|definitely|absolutely|of course|perfect|great|good|fine|cool|"
                     r"awesome|excellent|confirm(ed)?|(that|this|it)('?s| is) (right|correct|great|fine|"
                     r"perfect|good|ok(ay)?|it|all good)|sounds (good|great|fine|perfect)|please do|"
                     r"go ahead|go for it|do it|book it|that works|works for me|i agree|"
                     r"please (book|reserve|go)|that'?ll work|that will work)\b", re.I)


def reply_kind(text: str) -> str:
    """``affirm``, ``negate``, ``another``, ``cancel`` or "" (none of them)."""
    if _CANCEL.search(text):
        return CANCEL
    if _ANOTHER.search(text):
        return ANOTHER
    if _NEGATE.search(text):
        return NEGATE
    if _AFFIRM.search(text):
        return AFFIRM
    return ""
