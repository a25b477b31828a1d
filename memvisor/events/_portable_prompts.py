"""The prompts an export may carry after its events, so that ``replay --check`` on
another machine can still show a prompt's diff (version 2 of the format).

```
{"part":"9f2c…","json":{"role":"system","content":"…"}}       one line per distinct part
{"part":"41ab…","json":[{"name":"send_message",…}]}           (a message, or a tool list)
{"prompt":"sha256:…","parts":["9f2c…","…"],"tools":"41ab…"}    one line per prompt
```

A part's ``json`` is the exact bytes the prompt's hash was computed from,
written as is; a message shown in a hundred prompts is written once.

Invariants of what :class:`PromptLines` accepts (each failure names the line):
every part is defined once, before use; every prompt names defined parts, and
its parts hash to its ``prompt`` (so a damaged or edited prompt is refused).
"""

from collections.abc import Sequence

import msgspec

from ._prompt_format import blob_digest
from ._prompts import StoredPrompt, prompt_digest

__all__ = ["ExportedPrompt", "PromptLines", "prompt_export_lines"]


class ExportedPrompt(msgspec.Struct, frozen=True, kw_only=True):
    """A prompt carried by an export: its hash and what was sent."""

    prompt_hash: str
    prompt: StoredPrompt


class _PartLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    part: str
    json: msgspec.Raw


class _PromptLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    prompt: str
    parts: tuple[str, ...]
    tools: str


_encoder = msgspec.json.Encoder()
_part_decoder = msgspec.json.Decoder(_PartLine)
_prompt_decoder = msgspec.json.Decoder(_PromptLine)


def _key(body: bytes) -> str:
    return blob_digest(body).hex()


def prompt_export_lines(prompts: Sequence[ExportedPrompt]) -> tuple[list[bytes], list[bytes]]:
    """The part lines and the prompt lines that carry ``prompts`` (without line breaks)."""
    parts: dict[str, bytes] = {}
    lines: list[bytes] = []
    for exported in prompts:
        stored = exported.prompt
        keys = []
        for body in (*stored.parts, stored.tools):
            key = _key(body)
            parts.setdefault(key, body)
            keys.append(key)
        line = _PromptLine(prompt=exported.prompt_hash, parts=tuple(keys[:-1]), tools=keys[-1])
        lines.append(_encoder.encode(line))
    part_lines = [
        _encoder.encode(_PartLine(key, msgspec.Raw(body))) for key, body in parts.items()
    ]
    return part_lines, lines


class PromptLines:
    """Reads the part and prompt lines of an export, checking each as it comes.

    Its methods raise :class:`ValueError` with what is wrong with the line.
    """

    def __init__(self) -> None:
        self._parts: dict[str, bytes] = {}
        self.prompts: list[ExportedPrompt] = []

    def add_part(self, line: bytes) -> None:
        """A part line."""
        try:
            part = _part_decoder.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"not a prompt part: {exc}") from None
        if part.part in self._parts:
            raise ValueError(f"part {part.part} is defined twice")
        self._parts[part.part] = bytes(part.json)

    def add_prompt(self, line: bytes) -> None:
        """A prompt line (after the parts it names)."""
        try:
            prompt = _prompt_decoder.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"not a prompt: {exc}") from None
        missing = [key for key in (*prompt.parts, prompt.tools) if key not in self._parts]
        if missing:
            raise ValueError(f"the prompt names part {missing[0]}, which no line defines")
        stored = StoredPrompt(
            parts=tuple(self._parts[key] for key in prompt.parts),
            tools=self._parts[prompt.tools],
        )
        if prompt_digest(stored.parts) != prompt.prompt:
            raise ValueError(f"the parts of prompt {prompt.prompt} do not hash to it")
        self.prompts.append(ExportedPrompt(prompt_hash=prompt.prompt, prompt=stored))
