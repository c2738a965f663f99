"""In-graph joining of word pieces into readable text."""

import tensorflow as tf

# (pattern, rewrite) pairs for `tf.strings.regex_replace` (RE2 syntax, no
# look-around), applied in order to the space-joined tokens. Each rule that
# can overlap itself (e.g. `1 - 2 - 3`) is listed twice.
SPACING_RULES = (
    # Word pieces: "play ##ing" -> "playing".
    (r" ##", ""),
    # No space before closing punctuation.
    (r" ([.,!?;:)\]}%])", r"\1"),
    # No space after opening brackets and the dollar sign.
    (r"([(\[{$]) ", r"\1"),
    # Phone numbers: "+ 1 323" -> "+1 323".
    (r"(^|[\s(])\+ (\d)", r"\1+\2"),
    # Contractions and possessives: "don ' t" -> "don't", "Nobu ' s" -> "Nobu's".
    (r"(\w) ' ((?i:s|t|m|d|re|ve|ll))\b", r"\1'\2"),
    # Names like "O ' Hare" -> "O'Hare" (one letter before the apostrophe).
    (r"\b([A-Za-z]) ' ([A-Za-z])", r"\1'\2"),
    # Plural possessive: "Mcdonalds ' serves" -> "Mcdonalds' serves".
    (r"(\ws) ' ", r"\1' "),
    # Numbers: "7: 30" -> "7:30", "1, 250. 00" -> "1,250.00".
    (r"(\d)([.,:]) (\d)", r"\1\2\3"),
    (r"(\d)([.,:]) (\d)", r"\1\2\3"),
    # Hyphens and slashes inside words and numbers ("one-way", "408-247-8880",
    # "A-1", "24/7"); kept spaced between a word and a number ("5 - star").
    (r"([A-Za-z]) ([-/]) ([A-Za-z])", r"\1\2\3"),
    (r"([A-Za-z]) ([-/]) ([A-Za-z])", r"\1\2\3"),
    (r"([A-Z\d]) ([-/]) (\d)", r"\1\2\3"),
    (r"([A-Z\d]) ([-/]) (\d)", r"\1\2\3"),
    # Quoted passages (grounded replies): URLs, snake_case, HTML tags, ~~strike~~.
    (r"\b(https?|ftp): / / ", r"\1://"),
    (r"(://\S*)\. (\w)", r"\1.\2"),
    (r"(://\S*)\. (\w)", r"\1.\2"),
    (r"(://\S*)\. (\w)", r"\1.\2"),
    (r"(\w) _ (\w)", r"\1_\2"),
    (r"(\w) _ (\w)", r"\1_\2"),
    (r"< / (\w+) >", r"</\1>"),
    (r"< (\w+) >", r"<\1>"),
    (r"~ ~ ?([^~]*\S) ~ ~", r"~~\1~~"),
)


def fix_spacing(text):
    """Removes the spaces that word-level joining puts around punctuation.

    Args:
        text: `tf.string` tensor of tokens joined with single spaces.

    Returns:
        `tf.string` tensor of the same shape.

    Example:

    >>> fix_spacing(tf.constant("I ' m at 7 : 30 , ok ?")).numpy()
    b"I'm at 7:30, ok?"
    """
    for pattern, rewrite in SPACING_RULES:
        text = tf.strings.regex_replace(text, pattern, rewrite)
    return text


def join_wordpieces(tokens):
    """Joins rows of word-piece strings into readable text.

    Args:
        tokens: `tf.string` `tf.RaggedTensor` of shape `[B, None]`, word
            pieces with the `##` continuation prefix.

    Returns:
        `tf.string` tensor of shape `[B]`.

    Example:

    >>> join_wordpieces(tf.ragged.constant([["Play", "##ing", "now", "!"]])).numpy()
    array([b'Playing now!'], dtype=object)
    """
    text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    return fix_spacing(text)
