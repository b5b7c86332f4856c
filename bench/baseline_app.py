"""The baseline: the least a service on Voxsig's stack does to store a message durably.

POST /conversations/{id}/messages validates a JSON body, then in one transaction inserts one
message row and one outbox row (the event a webhook worker would deliver), commits, and returns
the message as JSON. Same stack as Voxsig: FastAPI, async SQLAlchemy ORM on the very engine
Voxsig makes (`voxsig.db.make_engine`: its SQLite driver and connection, one pooled connection,
its pragmas: WAL, synchronous=NORMAL), served by `uvicorn.run` in one process, as `voxsig serve`
does. So a change to Voxsig's database stack moves both. No auth, no lookups, no rendering: what
Voxsig does beyond this is what its ratio to the baseline measures.

Run: BENCH_DATA_DIR=/tmp/x BENCH_PORT=8123 python -m bench.baseline_app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import JSON, DateTime, Index, String, Text, text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from voxsig.db import make_engine


class Base(DeclarativeBase):
    pass


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int]
    content: Mapped[str] = mapped_column(Text)
    message_type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxEvent(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MessageIn(BaseModel):
    content: str = Field(max_length=150_000)
    message_type: str = "outgoing"


def create_app(db_path: Path) -> FastAPI:
    # Voxsig's own engine: for SQLite, one connection every request queues for.
    engine = make_engine(f"sqlite+aiosqlite:///{db_path.resolve()}")
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="Voxsig benchmark baseline", lifespan=lifespan)

    @app.post("/conversations/{conversation_id}/messages")
    async def create_message(conversation_id: int, body: MessageIn) -> dict[str, Any]:
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            message = Message(
                conversation_id=conversation_id,
                content=body.content,
                message_type=body.message_type,
                created_at=now,
            )
            session.add(message)
            await session.flush()
            rendered = {
                "id": message.id,
                "conversation_id": conversation_id,
                "content": message.content,
                "message_type": message.message_type,
                "created_at": int(now.timestamp()),
            }
            session.add(OutboxEvent(event="message_created", payload=rendered, created_at=now))
        # Committed: as in Voxsig, a 2xx means the message and its event are stored.
        return rendered

    @app.get("/health")
    async def health() -> JSONResponse:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    return app


def main() -> None:
    import uvicorn

    data_dir = Path(os.environ["BENCH_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    port = int(os.environ["BENCH_PORT"])
    # As `voxsig serve` runs: one process, 127.0.0.1, no access log.
    uvicorn.run(
        create_app(data_dir / "baseline.db"),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
