"""A local token estimate: no vocabulary, no downloads, deterministic.

Server-reported usage is the truth (DESIGN 6); this estimate stands in before
the first response, for planning what to evict, and for sizing the summary.

How it counts. Text is cut into runs of one character class, and each run costs
about what a GPT byte-pair tokenizer (cl100k_base, o200k_base) spends on it:

```
class                          example        cost per run of n characters
ASCII letters                  conversation   ceil(n / 6)   common words are one token
ASCII digits                   2025           ceil(n / 3)   numbers split in groups of 3
ASCII punctuation, controls    {"  ":  ",     ceil(n / 2)   JSON delimiters pair up
whitespace                     \n\n, indent   ceil(n / 4); a lone space 0 (joins the next word)
2-byte UTF-8 (é, ж, א)         привет         ceil(n / 2)
3-byte UTF-8 (CJK, kana)       記憶           n
4-byte UTF-8 (emoji)           👋             2n
```

plus :data:`MESSAGE_OVERHEAD` tokens per message (role and delimiters),
:data:`CALL_OVERHEAD` per tool call and :data:`REPLY_PRIMING` per prompt, as
OpenAI documents for its chat format.

Accuracy. Checked by hand against known cl100k_base tokenizations of English
prose and of the JSON this package renders (no tokenizer vocabulary can be
fetched here, so not measured on a corpus): typically within 25%, erring high
on long English words and on Cyrillic, Greek or accented text (o200k_base is
more compact there), close for CJK, low on long runs of rare letter sequences
(base64). It does not see the function schemas the LLM client adds to a
request; the compaction planner calibrates against reported usage, which does.

Properties the compaction planner relies on (tested): the estimate never
decreases as text grows (``estimate_text(s[:i]) <= estimate_text(s)``) and is
nearly additive (``estimate_text(a + b) <= estimate_text(a) + estimate_text(b) + 1``,
exact when ``a`` ends in whitespace and ``b`` starts with something else).
"""

import re
from collections.abc import Iterable

from ._messages import ChatMessage

__all__ = [
    "CALL_OVERHEAD",
    "MESSAGE_OVERHEAD",
    "REPLY_PRIMING",
    "estimate_messages",
    "estimate_text",
    "message_tokens",
    "truncate_to_tokens",
]

MESSAGE_OVERHEAD = 3
"""Tokens each message costs besides its content (role and delimiters)."""
CALL_OVERHEAD = 3
"""Tokens each tool call costs besides its name and arguments."""
REPLY_PRIMING = 3
"""Tokens every prompt costs once (the start of the assistant's reply)."""

# Each pattern cuts runs of one class into chunks of the size one token covers,
# so ``len(findall)`` is the sum over runs of ceil(run / chunk).
_LETTERS = re.compile(r"[A-Za-z]{1,6}")
_DIGITS = re.compile(r"[0-9]{1,3}")
_PUNCT = re.compile(r"[^A-Za-z0-9\s\u0080-\U0010ffff]{1,2}")
_SPACE = re.compile(r"\s{1,4}")
_LONE_SPACE = re.compile(r"(?<!\s) (?!\s)")
_TWO_BYTE = re.compile(r"[\u0080-\u07ff]{1,2}")
_THREE_BYTE = re.compile(r"[\u0800-\uffff]")
_FOUR_BYTE = re.compile(r"[\U00010000-\U0010ffff]")


def estimate_text(text: str) -> int:
    """Estimated tokens of ``text`` (0 for the empty string)."""
    if text.isascii():
        return (
            len(_LETTERS.findall(text))
            + len(_DIGITS.findall(text))
            + len(_PUNCT.findall(text))
            + len(_SPACE.findall(text))
            - len(_LONE_SPACE.findall(text))
        )
    return (
        len(_LETTERS.findall(text))
        + len(_DIGITS.findall(text))
        + len(_PUNCT.findall(text))
        + len(_SPACE.findall(text))
        - len(_LONE_SPACE.findall(text))
        + len(_TWO_BYTE.findall(text))
        + len(_THREE_BYTE.findall(text))
        + 2 * len(_FOUR_BYTE.findall(text))
    )


def message_tokens(message: ChatMessage) -> int:
    """Estimated tokens one message adds to a prompt."""
    tokens = MESSAGE_OVERHEAD + estimate_text(message.content or "")
    if message.name is not None:
        tokens += 1 + estimate_text(message.name)
    for call in message.tool_calls:
        tokens += CALL_OVERHEAD + estimate_text(call.name) + estimate_text(call.arguments)
    return tokens


def estimate_messages(messages: Iterable[ChatMessage]) -> int:
    """Estimated prompt tokens of a whole list of messages."""
    return REPLY_PRIMING + sum(message_tokens(message) for message in messages)


def truncate_to_tokens(text: str, budget: int, *, marker: str = " […]") -> str:
    """``text`` if it fits ``budget`` tokens, else its longest prefix that fits with ``marker``.

    Returns the empty string if not even the marker fits.
    """
    if estimate_text(text) <= budget:
        return text
    if estimate_text(marker) > budget:
        return ""
    # The estimate never decreases as the prefix grows: binary search the cut.
    low, high = 0, len(text)  # text[:low] + marker fits; text[:high] + marker does not
    while high - low > 1:
        middle = (low + high) // 2
        if estimate_text(text[:middle].rstrip() + marker) <= budget:
            low = middle
        else:
            high = middle
    return text[:low].rstrip() + marker
