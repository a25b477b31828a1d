"""Function specs from Python signatures, and validation of the model's calls to them.

```
signature + Google docstring ── function_spec(fn) ─▶ FunctionSpec ── to_tool_schema() ─▶ ToolSchema
                                                        │
ToolCall.arguments (raw text) ── parse_call(spec, text) ┴─▶ ParsedCall | CallRejected
message content with JSON ──── parse_call_from_content ───▶ ToolCall | None
```

Invariants:

* Everything here is pure: no I/O, no clock. Bad *definitions* (an unsupported
  parameter type, a documented argument that does not exist) raise
  :class:`UsageError` when the spec is built; bad *model output* never raises,
  it becomes a :class:`CallRejected` whose message is written for the model.
* The JSON schema and the validator come from one generated msgspec Struct, so
  they cannot disagree. The repairs applied before validation are few, named,
  and reported in :attr:`ParsedCall.repaired`.
* A parameter annotated with the caller's context type (``function_spec(fn,
  context=T)``) is filled by :meth:`FunctionSpec.invoke`, never by the model:
  it is in neither the schema nor the arguments Struct. This package names no
  such type itself (the agent passes its own), so it depends on nothing above it.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

import msgspec

from .._exceptions import UsageError
from ..events import ToolCall
from ._types import ToolSchema

__all__ = [
    "HEARTBEAT_DESCRIPTION",
    "CallRejected",
    "FunctionRegistry",
    "FunctionSpec",
    "Parameter",
    "ParsedCall",
    "Repair",
    "function_spec",
    "parse_call",
]

P = ParamSpec("P")
R = TypeVar("R")

HEARTBEAT = "request_heartbeat"
HEARTBEAT_DESCRIPTION = (
    "Request an immediate heartbeat after function execution. "
    "Set to true if you want to send a follow-up message or run a follow-up function."
)

Repair = Literal[
    "double_encoded_arguments",
    "missing_request_heartbeat",
    "boolean_from_string",
    "number_from_string",
    "empty_arguments",
]
"""The names of the repairs :func:`parse_call` may apply to weaker models' output."""

_Kind = Literal["str", "int", "float", "bool", "literal", "list_str"]
_LABELS: dict[_Kind, str] = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean (true or false)",
    "literal": "one of",
    "list_str": "an array of strings",
}
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_INT_RE = re.compile(r"[+-]?\d{1,18}", re.ASCII)
_FLOAT_RE = re.compile(r"[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,3})?", re.ASCII)


class Parameter(msgspec.Struct, frozen=True, kw_only=True):
    """One argument of a function, as the model sees it."""

    name: str
    kind: _Kind
    type_label: str
    """The expected type in words, e.g. ``"an integer or null"``."""
    required: bool
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    """A function the model may call: its schema and the Struct that validates its arguments.

    Build one with :func:`function_spec`.
    """

    name: str
    description: str
    fn: object
    """The Python function the spec was built from (see :meth:`invoke`)."""
    args_type: type[msgspec.Struct]
    """The generated Struct: keyword-only, unknown fields forbidden."""
    params: tuple[Parameter, ...]
    """The function's own parameters (without ``request_heartbeat``)."""
    heartbeat: bool
    """Whether a ``request_heartbeat`` boolean is added to the arguments."""
    parameters: msgspec.Raw
    """The arguments' JSON schema, as JSON text."""
    context_param: str | None = None
    """The parameter that receives the caller's context (see ``function_spec(context=)``),
    if ``fn`` has one; it is in neither :attr:`params` nor the schema."""

    def invoke(self, parsed: ParsedCall, context: object = None) -> object:
        """Call :attr:`fn` with ``parsed``'s arguments (a coroutine, if ``fn`` is async).

        Args:
            parsed: The validated call.
            context: Passed as :attr:`context_param` when the function has one;
                ignored otherwise, so a caller can always pass its context.

        Raises:
            UsageError: the function takes a context and ``context`` is ``None``.
        """
        assert callable(self.fn)
        kwargs = parsed.kwargs()
        if self.context_param is not None:
            if context is None:
                raise UsageError(f"{self.name} takes a context ({self.context_param}); pass one")
            kwargs[self.context_param] = context
        return self.fn(**kwargs)

    def to_tool_schema(self) -> ToolSchema:
        """The provider-neutral tool definition sent to the LLM."""
        return ToolSchema(name=self.name, description=self.description, parameters=self.parameters)


class ParsedCall(msgspec.Struct, frozen=True, kw_only=True, tag="parsed_call"):
    """Arguments that passed validation (possibly after repairs)."""

    function: str
    arguments: msgspec.Struct
    """An instance of the spec's :attr:`FunctionSpec.args_type`."""
    heartbeat: bool = False
    """The model asked to step again after this call (``request_heartbeat``)."""
    repaired: tuple[Repair, ...] = ()

    def kwargs(self) -> dict[str, object]:
        """The arguments as keyword arguments for the function (no ``request_heartbeat``)."""
        fields = self.arguments.__struct_fields__
        return {f: getattr(self.arguments, f) for f in fields if f != HEARTBEAT}


class CallRejected(msgspec.Struct, frozen=True, kw_only=True, tag="call_rejected"):
    """A call that cannot run; :attr:`message` tells the model what to fix."""

    message: str
    function: str | None = None


# --- building specs ---------------------------------------------------------------------


def function_spec(
    fn: Callable[P, R],
    *,
    name: str | None = None,
    heartbeat: bool = False,
    context: type[object] | None = None,
) -> FunctionSpec:
    """Build the spec of ``fn`` from its signature and Google-style docstring.

    Args:
        fn: The function. Its parameters must be annotated with ``str``, ``int``,
            ``float``, ``bool``, a ``Literal`` of strings or of integers,
            ``list[str]``, or ``X | None`` (with a default) of one of those.
        name: The name the model calls it by; defaults to ``fn.__name__``.
        heartbeat: Add a ``request_heartbeat`` boolean argument.
        context: The caller's context type. At most one parameter annotated with
            exactly this type receives it (see :meth:`FunctionSpec.invoke`); the
            model never sees that parameter.

    Raises:
        UsageError: a parameter is unsupported, two take the context, or the
            docstring names an unknown one.
    """
    fn_name = name or fn.__name__
    if not _NAME_RE.fullmatch(fn_name):
        raise UsageError(f"function name {fn_name!r} must match [A-Za-z0-9_-]{{1,64}}")
    description, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
    try:
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, TypeError, ValueError) as exc:
        raise UsageError(f"cannot read the signature of {fn_name}: {exc}") from exc
    unknown = set(arg_docs) - set(signature.parameters)
    if unknown:
        raise UsageError(f"{fn_name}'s docstring documents unknown arguments: {sorted(unknown)}")
    params: list[Parameter] = []
    fields: list[tuple[str, object] | tuple[str, object, object]] = []
    context_param: str | None = None
    for p in signature.parameters.values():
        if context is not None and p.annotation is context:
            if context_param is not None:
                raise UsageError(
                    f"{fn_name} takes the context twice ({context_param!r} and {p.name!r})"
                )
            if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                raise UsageError(f"{fn_name}: the context parameter {p.name!r} must be named")
            context_param = p.name
            continue
        param, field = _parameter(fn_name, p, arg_docs.get(p.name, ""))
        params.append(param)
        fields.append(field)
    if heartbeat:
        if HEARTBEAT in signature.parameters:
            raise UsageError(f"{fn_name} declares {HEARTBEAT} itself; drop it or heartbeat=True")
        fields.append((HEARTBEAT, bool))
    args_type = msgspec.defstruct(
        f"{fn_name}_arguments", fields, kw_only=True, forbid_unknown_fields=True
    )
    schema = msgspec.json.schema(args_type)["$defs"][args_type.__name__]
    schema.pop("title", None)
    descriptions = {p.name: p.description for p in params if p.description}
    if heartbeat:
        descriptions[HEARTBEAT] = HEARTBEAT_DESCRIPTION
    for field_name, text in descriptions.items():
        schema["properties"][field_name]["description"] = text
    return FunctionSpec(
        name=fn_name,
        description=description,
        fn=fn,
        args_type=args_type,
        params=tuple(params),
        heartbeat=heartbeat,
        parameters=msgspec.Raw(msgspec.json.encode(schema)),
        context_param=context_param,
    )


def _parameter(
    fn_name: str, p: inspect.Parameter, doc: str
) -> tuple[Parameter, tuple[str, object] | tuple[str, object, object]]:
    where = f"parameter {p.name!r} of {fn_name}"
    if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
        raise UsageError(f"{where}: only named parameters are supported, not {p.kind.description}")
    if p.annotation is p.empty:
        raise UsageError(f"{where} needs a type annotation")
    annotation: object = p.annotation
    optional = False
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if not optional or len(members) != 1:
            raise UsageError(f"{where}: the only union supported is `X | None`")
        if p.default is p.empty:
            raise UsageError(f"{where}: an optional parameter needs a default")
        annotation = members[0]
    kind, label = _kind(where, annotation)
    label = f"{label} or null" if optional else label
    typ: object = p.annotation  # for `X | None`, the union itself
    param = Parameter(
        name=p.name, kind=kind, type_label=label, required=p.default is p.empty, description=doc
    )
    if p.default is p.empty:
        return param, (p.name, typ)
    try:
        msgspec.convert(p.default, typ)
    except msgspec.ValidationError as exc:
        raise UsageError(f"{where}: default {p.default!r} does not fit its type") from exc
    default = p.default
    if isinstance(default, list):
        items = list(default)
        return param, (p.name, typ, msgspec.field(default_factory=lambda: list(items)))
    return param, (p.name, typ, default)


def _kind(where: str, annotation: object) -> tuple[_Kind, str]:
    simple: dict[object, _Kind] = {str: "str", int: "int", float: "float", bool: "bool"}
    if annotation in simple:
        kind = simple[annotation]
        return kind, _LABELS[kind]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args == (str,):
        return "list_str", _LABELS["list_str"]
    if origin is Literal and args:
        all_str = all(isinstance(a, str) for a in args)
        all_int = all(isinstance(a, int) and not isinstance(a, bool) for a in args)
        if all_str or all_int:
            return "literal", "one of " + ", ".join(msgspec.json.encode(a).decode() for a in args)
    raise UsageError(
        f"{where}: unsupported type {annotation!r} "
        "(use str, int, float, bool, Literal[...], list[str], or X | None)"
    )


_SECTION_RE = re.compile(
    r"(Args|Arguments|Parameters|Returns?|Yields?|Raises|Examples?|Notes?|Attributes|"
    r"See Also|Warnings?|Todo):\s*"
)
_ARG_RE = re.compile(r"\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a cleaned Google-style docstring into (description, {arg: description})."""
    lines = doc.splitlines()
    sections = [i for i, line in enumerate(lines) if _SECTION_RE.fullmatch(line)]
    head = lines[: sections[0]] if sections else lines
    paragraphs = " ".join(line.strip() or "\n\n" for line in head).split("\n\n")
    description = "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
    args: dict[str, str] = {}
    for start in sections:
        if lines[start].strip().rstrip(":") not in ("Args", "Arguments", "Parameters"):
            continue
        body: list[str] = []
        for line in lines[start + 1 :]:
            if line.strip() and not line[0].isspace():
                break
            body.append(line)
        indent = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
        current: str | None = None
        for line in body:
            match = _ARG_RE.fullmatch(line.strip())
            if match and len(line) - len(line.lstrip()) == indent:
                current = match.group(1)
                args[current] = match.group(2).strip()
            elif current is not None and line.strip():
                args[current] = f"{args[current]} {line.strip()}".strip()
    return description, args


# --- validating calls -------------------------------------------------------------------


def parse_call(spec: FunctionSpec, arguments_text: str) -> ParsedCall | CallRejected:
    """Validate the model's raw arguments for ``spec``; never raises on model input.

    Repairs applied (and reported): arguments JSON-encoded twice, a missing
    ``request_heartbeat`` (taken as false), ``"true"``/``"false"`` for booleans,
    numbers written as strings, and empty arguments for a function with no
    required parameters.
    """
    repairs: list[Repair] = []
    loaded = _load_object(spec, arguments_text, repairs)
    if isinstance(loaded, CallRejected):
        return loaded
    if spec.heartbeat and HEARTBEAT not in loaded:
        loaded[HEARTBEAT] = False
        repairs.append("missing_request_heartbeat")
    _coerce_strings(spec, loaded, repairs)
    try:
        arguments = msgspec.convert(loaded, spec.args_type)
    except msgspec.ValidationError as exc:
        return _reject(spec, _explain(spec, str(exc), loaded))
    return ParsedCall(
        function=spec.name,
        arguments=arguments,
        heartbeat=spec.heartbeat and loaded.get(HEARTBEAT) is True,
        repaired=tuple(dict.fromkeys(repairs)),
    )


def _load_object(
    spec: FunctionSpec, text: str, repairs: list[Repair]
) -> dict[str, object] | CallRejected:
    if not text.strip() or text.strip() == "null":
        missing = [p.name for p in spec.params if p.required]
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            return _reject(spec, f"the arguments are empty; missing required {names}")
        repairs.append("empty_arguments")
        return {}
    try:
        value: object = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        return _reject(spec, f"the arguments are not valid JSON ({exc})")
    for _ in range(2):  # a JSON string holding the object: arguments encoded twice
        if not isinstance(value, str):
            break
        try:
            value = msgspec.json.decode(value)
        except msgspec.DecodeError:
            break  # just a string; rejected below
        repairs.append("double_encoded_arguments")
    if not isinstance(value, dict):
        got = _json_type(value)
        return _reject(spec, f"the arguments must be a JSON object, got {got}")
    return {str(k): v for k, v in value.items()}


def _coerce_strings(spec: FunctionSpec, obj: dict[str, object], repairs: list[Repair]) -> None:
    kinds: dict[str, _Kind] = {p.name: p.kind for p in spec.params}
    if spec.heartbeat:
        kinds[HEARTBEAT] = "bool"
    for name, kind in kinds.items():
        value = obj.get(name)
        if not isinstance(value, str):
            continue
        text = value.strip()
        if kind == "bool" and text.lower() in ("true", "false"):
            obj[name] = text.lower() == "true"
            repairs.append("boolean_from_string")
        elif kind == "int" and _INT_RE.fullmatch(text):
            obj[name] = int(text)
            repairs.append("number_from_string")
        elif kind == "float" and _FLOAT_RE.fullmatch(text):
            obj[name] = float(text)
            repairs.append("number_from_string")


_ERROR_RE = re.compile(r"(?P<what>.*?)(?: - at `\$(?P<path>.*)`)?", re.DOTALL)
_FIELD_RE = re.compile(r"`(?P<field>[^`]*)`")


def _explain(spec: FunctionSpec, error: str, obj: dict[str, object]) -> str:
    """Turn msgspec's first validation error into a sentence about the argument."""
    match = _ERROR_RE.fullmatch(error)
    what, path = (match.group("what"), match.group("path")) if match else (error, None)
    field = _FIELD_RE.search(what)
    if what.startswith("Object missing required field") and field:
        name = field.group("field")
        return f"missing required argument `{name}` ({_label(spec, name)})"
    if what.startswith("Object contains unknown field") and field:
        return f"unknown argument `{field.group('field')}`"
    if path:
        name = re.split(r"[.\[]", path.lstrip("."), maxsplit=1)[0]
        got = msgspec.json.encode(obj.get(name)).decode()
        got = got if len(got) <= 80 else got[:77] + "..."
        return f"argument `{name}` must be {_label(spec, name)}, got {got}"
    return what


def _label(spec: FunctionSpec, name: str) -> str:
    if name == HEARTBEAT and spec.heartbeat:
        return _LABELS["bool"]
    return next((p.type_label for p in spec.params if p.name == name), "a valid value")


def _reject(spec: FunctionSpec, detail: str) -> CallRejected:
    return CallRejected(
        function=spec.name,
        message=f"Invalid arguments for `{spec.name}`: {detail}.\n{_expected(spec)}",
    )


def _expected(spec: FunctionSpec) -> str:
    lines = [f"Expected a JSON object with the arguments of `{spec.name}`:"]
    for p in spec.params:
        lines.append(f"  {p.name}: {p.type_label}{' (required)' if p.required else ''}")
    if spec.heartbeat:
        lines.append(f"  {HEARTBEAT}: {_LABELS['bool']} (required)")
    if len(lines) == 1:
        lines.append("  (none: send {})")
    return "\n".join(lines)


def _json_type(value: object) -> str:
    names: list[tuple[type, str]] = [
        (bool, "a boolean"),
        (int, "a number"),
        (float, "a number"),
        (str, "a string"),
        (list, "an array"),
    ]
    return next((n for t, n in names if isinstance(value, t)), "null")


# --- the registry and calls written as text ---------------------------------------------


class FunctionRegistry:
    """The functions an agent offers, by name."""

    def __init__(self, specs: Iterable[FunctionSpec] = ()) -> None:
        self._specs: dict[str, FunctionSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: FunctionSpec) -> None:
        """Add ``spec``.

        Raises:
            UsageError: a function by that name is already registered.
        """
        if spec.name in self._specs:
            raise UsageError(f"a function named {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._specs)

    def lookup(self, name: str) -> FunctionSpec | CallRejected:
        """The spec called ``name`` (a ``functions.`` prefix is tolerated), or a rejection."""
        spec = self._specs.get(name.strip().removeprefix("functions."))
        if spec is not None:
            return spec
        available = ", ".join(self._specs) or "(none)"
        return CallRejected(
            function=name, message=f"Unknown function `{name}`. Available functions: {available}."
        )

    def parse(self, call: ToolCall) -> ParsedCall | CallRejected:
        """Look up and validate a tool call in one go."""
        spec = self.lookup(call.name)
        return spec if isinstance(spec, CallRejected) else parse_call(spec, call.arguments)

    def tool_schemas(self) -> tuple[ToolSchema, ...]:
        """Every function's :class:`ToolSchema`, for an LLM request."""
        return tuple(s.to_tool_schema() for s in self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[FunctionSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)
