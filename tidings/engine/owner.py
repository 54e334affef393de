"""Which process owns an Engine.IO session: the owner tag in front of its id.

A process given an owner tag makes session ids ``f"{owner}.{token}"``, so any
process that sees a request for the session can tell where it lives without
asking anyone (the hand-off of ``tidings.standalone.handoff``). The token
alphabet (``secrets.token_urlsafe``) has no '.', so the first '.' ends the tag;
ids without one are those of a process that has no tag.
"""

from __future__ import annotations

import re

__all__ = ["check_owner", "owner_of"]

_OWNER = re.compile(r"[A-Za-z0-9_-]{1,24}")


def check_owner(owner: str) -> str:
    """``owner`` if it is a valid tag (1-24 of ``[A-Za-z0-9_-]``), else ``ValueError``."""
    if not isinstance(owner, str) or _OWNER.fullmatch(owner) is None:
        raise ValueError(f"an owner tag is 1-24 characters of [A-Za-z0-9_-], got {owner!r}")
    return owner


def owner_of(sid: str) -> str | None:
    """The owner tag of session ``sid``; None when it has none."""
    owner, dot, _ = sid.partition(".")
    return owner if dot else None
