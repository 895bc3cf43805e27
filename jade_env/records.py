"""Frozen records: what ``@dataclass(frozen=True, slots=True)`` gives, for the types on the start-up path.

``import dataclasses`` brings ``inspect`` (with ``ast``, ``dis``, ``tokenize``) and each decorated class compiles
generated code at import: together most of the start-up of ``jade-rag score`` against the official scripts. The
few types that command needs (:mod:`jade_env.data.types`, :class:`jade_env.scoring.AnswerScore`,
:class:`jade_env.predictions.Prediction`) subclass :class:`Record` instead and write their ``__init__`` out (with
:data:`set_field`, ``object.__setattr__``, as a frozen dataclass does). A record's fields are its ``__slots__``, in order; it has
keyword or positional construction, ``==`` and ``hash`` over the fields (a record equals only a record of its own
class), a ``repr`` naming them, assignment refused (:class:`FrozenRecordError`, an ``AttributeError`` as
``dataclasses.FrozenInstanceError`` is), pickling and copying, and :meth:`Record.replace`.
"""

from __future__ import annotations

from operator import attrgetter

#: how a record's ``__init__`` sets its fields (its own ``__setattr__`` refuses assignment)
set_field = object.__setattr__


class FrozenRecordError(AttributeError):
    """Raised on assignment to a field of a frozen record."""


class Record:
    """A frozen record (see the module docstring); a subclass names its fields in ``__slots__`` and writes ``__init__``."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._values_of = attrgetter(*cls.__slots__)  # the field values as a tuple, in C (at least two fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values_of(self) == self._values_of(other)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values_of(self))  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenRecordError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenRecordError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __reduce__(self) -> tuple:
        return (type(self), self._values_of(self))  # type: ignore[attr-defined]

    def replace(self, **changes: object) -> Record:
        """A copy with the given fields changed (``dataclasses.replace``)."""
        unknown = set(changes) - set(self.__slots__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        return type(self)(**{n: changes.get(n, getattr(self, n)) for n in self.__slots__})
