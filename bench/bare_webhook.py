"""The baseline of bench/webhook_intake.py: the webhook's route on a FastAPI app that does
nothing, served by uvicorn exactly as `optibridge serve` serves the service
(`optibridge.server.run_service`: one process, `log_config=None`, `access_log=False`, the
default loop and HTTP implementation).

    .venv/bin/python -m bench.bare_webhook --port 8300
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/webhooks/comm100/{site_id}/livechat", status_code=202)
async def livechat_webhook(site_id: int) -> JSONResponse:
    return JSONResponse({"id": 0, "duplicate": False}, status_code=202)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    config = uvicorn.Config(
        app, host=options.host, port=options.port, log_config=None, access_log=False
    )
    uvicorn.Server(config).run()
