"""Optional packages: import one, or say in one line which extra installs it."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import LookalikeError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """`module`, imported; when it is missing, a one-line error naming `pip install 'lookalike[extra]'`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LookalikeError(f"{purpose} needs {module.split('.')[0]}: pip install 'lookalike[{extra}]'",
                             missing=module, extra=extra) from None


def installed(module: str) -> bool:
    """Whether `module` can be imported here, found without importing it (False for a module set to
    None in sys.modules, as tests do to block one)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:
        return False
