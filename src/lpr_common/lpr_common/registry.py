"""Backends picked by name from the parameters (``backend: onnx``)."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar('T')


class Registry(Generic[T]):
    def __init__(self, kind: str, error: type[Exception], load_builtins: Callable[[], None]):
        self.kind = kind
        self._error = error
        self._load_builtins = load_builtins  # imports the built-in backends (which register)
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str):
        def wrap(factory):
            self._factories[name] = factory
            return factory
        return wrap

    def create(self, name: str, **options) -> T:
        self._load_builtins()
        try:
            factory = self._factories[name]
        except KeyError:
            known = ', '.join(sorted(self._factories))
            raise self._error(f'unknown {self.kind} backend {name!r} (known: {known})') from None
        return factory(**options)

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._factories)
