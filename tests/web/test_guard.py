"""Which hosts count as this machine: the server's Host check and `serve`'s --host rule."""

from __future__ import annotations

import pytest

from lookalike.cli.serve import is_loopback
from lookalike.web.guard import LOOPBACK_NAMES, host_name


@pytest.mark.parametrize(("header", "host"), [
    ("127.0.0.1:8765", "127.0.0.1"), ("localhost", "localhost"), ("[::1]:8765", "[::1]"), ("[::1]", "[::1]"),
    ("example.com:80", "example.com"), ("127.0.0.1.nip.io:8765", "127.0.0.1.nip.io"), ("", ""),
])
def test_host_name_drops_the_port(header: str, host: str) -> None:
    assert host_name(header) == host


def test_rebinding_names_are_not_loopback() -> None:
    assert host_name("127.0.0.1.evil.example:8765") not in LOOPBACK_NAMES
    assert host_name("localhost.evil.example") not in LOOPBACK_NAMES


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("example.com", False),
])
def test_which_hosts_need_a_token(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
