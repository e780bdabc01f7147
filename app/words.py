"""Counted nouns for messages: "1 group", "2 groups", "1,204 photos"."""
from __future__ import annotations

IRREGULAR = {"copy": "copies"}


def count(n: int, noun: str) -> str:
    """`n` and the noun, plural unless n is 1, with thousands separators."""
    word = noun if n == 1 else IRREGULAR.get(noun, noun + "s")
    return f"{n:,} {word}"
