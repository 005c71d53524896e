"""One execution (one job on one system): its state, its output, cancelling it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.api.deps import DispatcherDep, SessionDep, SessionmakerDep, SettingsDep
from app.api.jobs import executions_out
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.models.enums import OutputStream
from app.repositories import output as output_repo
from app.schemas.jobs import Chunk, ExecutionOut, OutputPage
from app.services import events
from app.services import jobs as jobs_service

router = APIRouter(prefix="/executions", tags=["jobs"])

Reader = Annotated[Principal, requires(Permission.jobs_read)]
Runner = Annotated[Principal, requires(Permission.jobs_run)]
StreamChoice = Annotated[
    Literal["combined", "stdout", "stderr"],
    Query(description="combined: both streams in the order they were written."),
]


def _stream(choice: str) -> OutputStream | None:
    return None if choice == "combined" else OutputStream(choice)


@router.get("/{execution_id}", response_model=ExecutionOut, summary="Get an execution")
async def get_execution(
    execution_id: uuid.UUID, principal: Reader, session: SessionDep, settings: SettingsDep
) -> ExecutionOut:
    execution, job = await jobs_service.get_execution(session, principal, execution_id)
    (out,) = await executions_out(session, settings, [execution], {job.id: job})
    return out


@router.get("/{execution_id}/output", response_model=OutputPage, summary="Read output")
async def read_output(
    execution_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    after_seq: Annotated[int, Query(ge=0, le=2**31 - 1, description="Chunks after this.")] = 0,
    stream: StreamChoice = "combined",
    limit: Annotated[int, Query(ge=1, le=5000, description="Most chunks returned.")] = 1000,
) -> OutputPage:
    """Output as text, in order, from `after_seq` on (up to about 4 MiB per call). Bytes that
    are not UTF-8 show as U+FFFD here; `/output/raw` gives them exactly."""
    result = await jobs_service.output(
        session, principal, execution_id, after_seq=after_seq, stream=_stream(stream), limit=limit
    )
    execution = result.execution
    return OutputPage(
        execution_id=execution.id,
        status=execution.status,
        chunks=[
            Chunk(seq=chunk.seq, stream=chunk.stream, data=events.decode_output(chunk.data))
            for chunk in result.chunks
        ],
        next_seq=result.next_seq,
        complete=result.complete,
        dropped_bytes=execution.output_dropped_bytes,
        truncated=execution.output_truncated,
    )


@router.get(
    "/{execution_id}/output/raw",
    summary="Download output",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_output(
    execution_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    sessionmaker: SessionmakerDep,
    stream: StreamChoice = "combined",
) -> StreamingResponse:
    """The stored output's exact bytes, streamed. Output dropped past the cap is not in it:
    see the execution's `output.dropped_bytes`."""
    execution, _ = await jobs_service.get_execution(session, principal, execution_id)
    which = _stream(stream)

    async def body() -> AsyncIterator[bytes]:
        # A short transaction per batch: a client slow to read holds nothing open meanwhile.
        after = 0
        while True:
            async with sessionmaker() as reader:
                chunks = await output_repo.chunks(
                    reader, execution.id, after_seq=after, stream=which, limit=200
                )
            if not chunks:
                return
            for chunk in chunks:
                yield bytes(chunk.data)
            after = chunks[-1].seq

    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{execution.system_name}-{execution.id}-{stream}.log")
    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/{execution_id}/cancel", response_model=ExecutionOut, summary="Cancel an execution")
async def cancel_execution(
    execution_id: uuid.UUID,
    principal: Runner,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
) -> ExecutionOut:
    """Not started: cancelled at once. Running: its command is stopped on the host, and it
    ends as `cancelled` when the worker has done so."""
    execution, job = await jobs_service.cancel_execution(
        session, dispatcher, principal, execution_id
    )
    (out,) = await executions_out(session, settings, [execution], {job.id: job})
    return out
