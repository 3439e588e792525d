"""The `optibridge` command (SPEC 5.1)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="optibridge",
    help="Connects a Comm100 site with an Optimove account.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(help="Run a vendor sandbox as its own process.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

HostOption = Annotated[str, typer.Option("--host", help="Interface to listen on.")]


@sandbox_app.command("optimove")
def sandbox_optimove(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8100,
    host: HostOption = "127.0.0.1",
) -> None:
    """The Optimove API emulator (SPEC 5.5) with its /_sandbox/ control surface."""
    import uvicorn

    from optibridge.sandbox.optimove import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
