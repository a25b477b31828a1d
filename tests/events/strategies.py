"""Hypothesis strategies for events: any member of the :data:`~memvisor.events.Event` union.

Every field of every event is drawn, optional ones included, so an example
exercises the whole wire format. The strategy is derived from the field types,
so a new event type or field is covered without touching this file, and a field
of a type this file does not know fails loudly (:func:`strategy_for` raises).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, cast

import msgspec
from hypothesis import strategies as st

import memvisor.events._types as _types_module
from memvisor.events import Event

__all__ = [
    "EVENT_CLASSES",
    "INT64",
    "any_event",
    "event_of",
    "field_types",
    "json_values",
    "strategy_for",
]

EVENT_CLASSES: tuple[type[Event], ...] = typing.get_args(Event)
"""Every class of the union, in declaration order."""

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

_json_scalars: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    INT64,
    st.floats(allow_nan=False),
    st.text(max_size=20),
)

json_values: st.SearchStrategy[object] = st.recursive(
    _json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)
"""Small JSON-like values: what an ``object``-typed field holds."""


def field_types(cls: type[msgspec.Struct]) -> dict[str, object]:
    """The resolved type of every field of ``cls``, in field order.

    ``msgspec.structs.fields(cls)`` would be the natural call, but it resolves
    the string annotations in the namespace of ``cls.__module__``, which
    ``memvisor.events`` rewrites to its public path, where names such as
    ``Literal`` do not exist, so it raises ``NameError`` for ``ToolReturned``
    and ``CoreMemoryEdited`` (see ``test_codec.py::
    test_event_types_can_be_introspected``). Resolve them in the module that
    defines the events instead.
    """
    hints = typing.get_type_hints(cls, globalns=vars(_types_module))
    return {name: hints[name] for name in cls.__struct_fields__}


_SIMPLE: dict[object, st.SearchStrategy[Any]] = {
    object: json_values,
    str: st.text(max_size=40),
    bool: st.booleans(),
    int: INT64,
    float: st.floats(allow_nan=False),
    type(None): st.none(),
}


def strategy_for(tp: object) -> st.SearchStrategy[Any]:
    """A strategy for values of the field type ``tp``.

    Raises:
        TypeError: ``tp`` is a type this module does not know yet; teach it.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in _SIMPLE:
        return _SIMPLE[tp]
    if origin is Literal:
        return st.sampled_from(args)
    if origin is typing.Union or origin is types.UnionType:
        return st.one_of([strategy_for(arg) for arg in args])
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _structs(tp)
    raise TypeError(f"no strategy for field type {tp!r}: add one to tests/events/strategies.py")


def _structs(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    fields = {name: strategy_for(tp) for name, tp in field_types(cls).items()}
    if "seq" in fields and issubclass(cls, EVENT_CLASSES):
        fields["seq"] = st.integers(min_value=1, max_value=2**63 - 1)
        # Logs refuse a non-finite time (UsageError); stored events always have one.
        fields["at"] = st.floats(allow_nan=False, allow_infinity=False)
    # Not ``st.builds``: it reads ``inspect.signature(cls)``, which fails for the
    # same reason as ``msgspec.structs.fields`` (see :func:`field_types`).
    return st.fixed_dictionaries(fields).map(lambda kwargs: cls(**kwargs))


def event_of(cls: type[Event]) -> st.SearchStrategy[Event]:
    """Events of one class, every field drawn."""
    return cast("st.SearchStrategy[Event]", _structs(cls))


def any_event() -> st.SearchStrategy[Event]:
    """Any event of the union, every field drawn."""
    return st.one_of([event_of(cls) for cls in EVENT_CLASSES])
