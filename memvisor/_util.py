"""Small helpers with no domain logic: public-module metadata and private constructors."""

from __future__ import annotations

from abc import ABCMeta
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class NoPublicConstructor(ABCMeta):
    """Metaclass for handles that only a factory may create.

    ``Cls(...)`` raises :class:`TypeError`; the factory calls ``Cls._create(...)``.
    """

    def __call__(cls, *args: object, **kwargs: object) -> None:
        raise TypeError(f"{cls.__module__}.{cls.__qualname__} has no public constructor")

    def _create(cls: type[T], *args: object, **kwargs: object) -> T:
        return super().__call__(*args, **kwargs)  # type: ignore[misc,no-any-return]


def fixup_module_metadata(module_name: str, namespace: dict[str, object]) -> None:
    """Make re-exported objects claim the public module they are exported from.

    Tracebacks, reprs and docs then show ``memvisor.events.UserMessage`` rather
    than the private module the class happens to live in.
    """
    for name, obj in namespace.items():
        if name.startswith("_") or not (isinstance(obj, type) or callable(obj)):
            continue
        if getattr(obj, "__module__", "").startswith(f"{module_name}._"):
            obj.__module__ = module_name


@contextmanager
def single_error() -> Iterator[None]:
    """Unwrap an exception group of one, so a context manager built on a task group
    raises what went wrong, not ``ExceptionGroup([what went wrong])``.

    Groups of several errors pass through unchanged: nothing is ever dropped.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        error = group.exceptions[0]
        raise error from error.__cause__
