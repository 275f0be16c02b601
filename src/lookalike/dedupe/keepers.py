"""Which file of a duplicate group to keep: a person's explicit choice first (`Preferred`, kept by the
library), else by rule (most pixels, largest, oldest, newest, or the one inside a given folder), ties
broken by the default order and then by path."""

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


@dataclass(frozen=True)
class Preferred:
    """Keepers a person chose: content hash -> (rank: later choices rank higher, the file chosen among
    byte-identical copies or None). A choice beats any `--keep` rule."""

    chosen: dict[str, tuple[int, Path | None]]

    def narrow(self, members: list[tuple[Path, str]]) -> list[Path]:
        """The members (path, content hash) the keeper must come from: the chosen file when it is one of
        them, else the copies of the latest chosen content, else all (the rule then picks among them)."""
        ranked = [(self.chosen[digest][0], path, digest) for path, digest in members if digest in self.chosen]
        if not ranked:
            return [path for path, _ in members]
        latest = max(rank for rank, _, _ in ranked)
        copies = [(path, digest) for rank, path, digest in ranked if rank == latest]
        wanted = self.chosen[copies[0][1]][1]
        exact = [path for path, _ in copies if wanted is not None and _same_file(path, wanted)]
        return exact or [path for path, _ in copies]


def _same_file(a: Path, b: Path) -> bool:
    return a == b or a.resolve() == b.resolve()


def _default_key(facts: FileFacts) -> tuple[int, int, int, str]:
    return (-facts.pixels, -facts.size, facts.mtime_ns, str(facts.path))


def choose_keeper(members: list[FileFacts], rule: str = "best", hashes: list[str] | None = None,
                  preferred: Preferred | None = None) -> FileFacts:
    """The suggested keeper: a person's choice (`preferred`, with the members' content `hashes`) when
    the group holds one, else by rule (`best` = most pixels, then largest file, then oldest)."""
    if not members:
        raise LookalikeError("a group without files has no keeper")
    rule = parse_rule(rule)
    if preferred is not None and hashes is not None:
        allowed = set(preferred.narrow([(f.path, h) for f, h in zip(members, hashes, strict=True)]))
        members = [f for f in members if f.path in allowed]
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
