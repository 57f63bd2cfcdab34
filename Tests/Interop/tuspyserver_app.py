"""tuspyserver (an independent tus 1.0.0 server, from PyPI) on 127.0.0.1 for the interop test.

usage: tuspyserver_app.py PORT FILES_DIR
Prints `listening on 127.0.0.1:PORT` once uvicorn has bound the socket.
"""
import sys

import uvicorn
from fastapi import FastAPI
from tuspyserver import create_tus_router

port, files_dir = int(sys.argv[1]), sys.argv[2]
app = FastAPI()
app.include_router(create_tus_router(prefix="files", files_dir=files_dir))


class Server(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets)
        print(f"listening on 127.0.0.1:{port}", flush=True)


Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).run()
