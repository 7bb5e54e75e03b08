"""Navigation registry: each feature package declares its own menu entries when imported.

Keeping the list here (rather than hard-coding links in base.html) lets a feature add itself to
the menu without touching the layout, and lets the template hide links a role cannot use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from app.models import Role
from app.models import User

ALL_ROLES = frozenset(Role)
CURATORS = frozenset({Role.EDITOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class NavEntry:
    label: str
    endpoint: str
    roles: frozenset[Role] = ALL_ROLES
    order: int = 50
    menu: str = "main"  # "main" (top bar) or "user" (account menu)
    badge: Callable[[User], int | None] | None = field(default=None, compare=False)
    # Other endpoints that should mark this entry as the current page.
    also_active: tuple[str, ...] = ()


@dataclass
class NavItem:
    label: str
    url: str
    active: bool
    badge: int | None = None


class PagesOf(tuple):
    """`also_active` for every page of a blueprint, including pages other modules add to it
    later: `endpoint in PagesOf("voice")` is true for "voice.inbox", "voice.sources", ..."""

    __slots__ = ()

    def __new__(cls, blueprint: str) -> PagesOf:
        return super().__new__(cls, (blueprint,))

    def __contains__(self, endpoint: object) -> bool:
        return isinstance(endpoint, str) and endpoint.startswith(f"{self[0]}.")


_REGISTRY: list[NavEntry] = []


def nav_entry(label: str, endpoint: str, **kwargs) -> None:
    entry = NavEntry(label, endpoint, **kwargs)
    if entry not in _REGISTRY:
        _REGISTRY.append(entry)


def entries(menu: str) -> list[NavEntry]:
    return sorted((e for e in _REGISTRY if e.menu == menu), key=lambda e: (e.order, e.label))
