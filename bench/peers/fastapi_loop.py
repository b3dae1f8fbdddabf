"""Peer 1 of bench/fanout.py: the broadcast loop from FastAPI's WebSocket documentation.

The "Handling disconnections and multiple clients" example of
https://fastapi.tiangolo.com/advanced/websockets/, kept as a user would copy it: a list of
active connections and `await connection.send_text(message)` to each in turn, called from
the sender's own receive loop. Two changes: the path is the show's (`/ws/shows/{show_id}`,
one room per process as in the docs), and a message goes out as it came in (the docs prefix
"Client #n says: "), since the crowd's clients already send whole events.

The list is in memory, so it holds one process's sockets: as the docs say, the example
"will only work with a single process". The benchmark therefore runs it as ONE uvicorn
worker (the docs point to encode/broadcaster for more than one).

    uvicorn --app-dir bench/peers fastapi_loop:app --workers 1
"""

from __future__ import annotations

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


class ConnectionManager:
    def __init__(self) -> None:
        self.active_connections: list[WebSocket] = []

    async def connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket) -> None:
        self.active_connections.remove(websocket)

    async def broadcast(self, message: str) -> None:
        for connection in self.active_connections:
            await connection.send_text(message)


manager = ConnectionManager()


@app.get("/health")
async def health() -> dict[str, int]:
    return {"connections": len(manager.active_connections)}


@app.websocket("/ws/shows/{show_id}")
async def websocket_endpoint(websocket: WebSocket, show_id: int) -> None:
    await manager.connect(websocket)
    try:
        while True:
            data = await websocket.receive_text()
            await manager.broadcast(data)
    except WebSocketDisconnect:
        manager.disconnect(websocket)
