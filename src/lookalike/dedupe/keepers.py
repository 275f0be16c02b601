"""Which file of a duplicate group to keep: by rule (most pixels, largest, oldest, newest, or the one
inside a given folder), ties broken by the default order and then by path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import LookalikeError

RULES = ("best", "largest", "oldest", "newest")


@dataclass(frozen=True)
class FileFacts:
    """What keeper rules look at."""

    path: Path
    pixels: int
    size: int
    mtime_ns: int


def parse_rule(rule: str) -> str:
    """A rule name or `in:DIR`, validated."""
    if rule in RULES or (rule.startswith("in:") and len(rule) > 3):
        return rule
    raise LookalikeError(f"keeper rule '{rule}': choose one of {', '.join(RULES)} or in:DIR")


def _default_key(facts: FileFacts) -> tuple[int, int, int, str]:
    return (-facts.pixels, -facts.size, facts.mtime_ns, str(facts.path))


def choose_keeper(members: list[FileFacts], rule: str = "best") -> FileFacts:
    """The suggested keeper: `best` = most pixels, then largest file, then oldest."""
    if not members:
        raise LookalikeError("a group without files has no keeper")
    rule = parse_rule(rule)
    if rule == "largest":
        return min(members, key=lambda f: (-f.size, *_default_key(f)))
    if rule == "oldest":
        return min(members, key=lambda f: (f.mtime_ns, *_default_key(f)))
    if rule == "newest":
        return min(members, key=lambda f: (-f.mtime_ns, *_default_key(f)))
    if rule.startswith("in:"):
        folder = Path(rule[3:]).resolve()
        inside = [f for f in members if f.path.resolve().is_relative_to(folder)]
        return min(inside or members, key=_default_key)
    return min(members, key=_default_key)


def file_facts(path: Path) -> FileFacts:
    """Pixels (from the image header, no decode), size and mtime of a file."""
    from PIL import Image

    stat = path.stat()
    try:
        with Image.open(path) as image:
            pixels = image.width * image.height
    except (OSError, ValueError, Image.DecompressionBombError):
        pixels = 0
    return FileFacts(path, pixels, stat.st_size, stat.st_mtime_ns)
