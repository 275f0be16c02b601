"""`lookalike serve`: the web page and REST API over one library, under uvicorn."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InvalidArgumentError, LookalikeError
from .common import (
    BackendOption,
    DeviceOption,
    LibraryOption,
    MegapixelsOption,
    ModelOption,
    PrecisionOption,
    StoreOption,
    app,
    service_for,
)

WEB_EXTRA = "pip install 'lookalike[web]'"
GRACE = 2  # seconds SIGTERM leaves open requests before the server stops


def require_web_packages() -> None:
    """One clear line when the web extra is not installed."""
    missing = []
    for module in ("fastapi", "uvicorn", "multipart"):
        try:
            __import__(module)
        except ImportError:
            missing.append("python-multipart" if module == "multipart" else module)
    if missing:
        raise LookalikeError(f"the web server needs {', '.join(missing)}: {WEB_EXTRA}")


def is_loopback(host: str) -> bool:
    """Whether `host` only answers this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    folder: Annotated[Path | None, typer.Argument(help="Indexed folder (or use --library).")] = None,
    library: LibraryOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on; other than loopback needs --token.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    token: Annotated[str | None, typer.Option(envvar="LOOKALIKE_TOKEN", show_envvar=True,
                                              help="Bearer token every API request must carry.")] = None,
    max_upload_mb: Annotated[float, typer.Option(min=0.001, help="Largest accepted upload, in MB.")] = 20.0,
    max_megapixels: MegapixelsOption = None,
    model: ModelOption = None,
    store: StoreOption = None,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
) -> None:
    """Serve the page and REST API over FOLDER's library: drop a photo, see its look-alikes.

    Uploads are held to --max-upload-mb and to the pixel limit of indexed files (--max-megapixels).

    lookalike serve ~/Pictures                  # then open http://127.0.0.1:8765
    lookalike serve --library lib --host 0.0.0.0 --token s3cret
    """
    require_web_packages()
    if folder is not None and library is not None:
        raise InvalidArgumentError("give either a FOLDER or --library, not both", argument="--library")
    if folder is None and library is None:
        raise InvalidArgumentError("serve needs an indexed FOLDER or --library DIR", argument="folder")
    if folder is not None and not folder.is_dir():
        raise InvalidArgumentError("no such folder", path=folder, argument="folder")
    if not is_loopback(host) and not token:
        raise InvalidArgumentError(f"serving on {host} lets other machines in: give --token (or LOOKALIKE_TOKEN)",
                                   argument="--token")
    import uvicorn

    from ..web.app import create_app

    with service_for(folder, device, precision, max_megapixels=max_megapixels, store=store,
                     backend=backend) as service:
        opened = service.postgres(folder, model) if service.settings.store and folder is not None else \
            service.library(folder, library=library, model=model, readonly=True)
        opened.embedder().warm()  # load the model now: a model that cannot load is one line, not a traceback
        web = create_app(service, opened, token=token, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                         job_idle_seconds=service.settings.job_idle_seconds)
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"serving {opened.root} ({opened.stats(scan=False).indexed} images, {opened.spec.model}) "
                   f"on http://{shown}:{port}", err=True)
        uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=GRACE)  # SIGTERM: open requests get GRACE s, jobs are cancelled
