"""A finding of a plan checker (chart values, Kubernetes objects): the resource and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    urn: str
    message: str

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def line(self) -> str:
        return f"{self.name}: {self.message}"
