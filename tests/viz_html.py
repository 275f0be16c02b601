"""Helpers for tests of generated HTML: parse it with the standard library and list what it would load."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path


class Collected(HTMLParser):
    """Every start tag with its attributes, and the text of each <script> (by id when it has one)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._in_script: dict[str, str] | None = None
        self._buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag == "script":
            self._in_script, self._buffer = values, []

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self._buffer.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_script is not None:
            self.scripts.append((self._in_script, "".join(self._buffer)))
            self._in_script = None

    def of(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def script(self, element_id: str) -> str:
        return next(text for attrs, text in self.scripts if attrs.get("id") == element_id)


def parse(path: Path) -> Collected:
    parser = Collected()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def network_loads(page: Collected) -> list[str]:
    """src/href values of <script>, <link>, <img> (and <iframe>) that would fetch from elsewhere."""
    found = []
    for tag in ("script", "link", "img", "iframe"):
        for attrs in page.of(tag):
            for key in ("src", "href"):
                value = attrs.get(key, "").strip().lower()
                if value and not value.startswith("data:"):
                    found.append(f"<{tag} {key}={value[:60]}>")
    return found
