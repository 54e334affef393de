"""Identifier types shared by every layer above the protocol."""

from __future__ import annotations

import secrets
from typing import NewType

Sid = NewType("Sid", str)
Room = NewType("Room", str)


def new_sid() -> Sid:
    """20 url-safe characters, the length Node socket.io uses (clusters mix both)."""
    return Sid(secrets.token_urlsafe(15))
