"""API latency under load, with a million executions and a million audit rows stored.

    python -m bench.api_latency --executions 1000000 --audit 1000000 --seconds 15

One real job on 100 local systems is run first; then PostgreSQL copies it into `executions /
100` jobs of 100 executions each (every column copied from the real rows, so they are what
Orca writes), and the audit log gets `--audit` rows through its own trigger (each chained to
the one before, as the API would write them). Then wrk (Debian's `wrk`) loads each endpoint
for `--seconds` on loopback with `--connections` connections, as an admin with a bearer
token, and its latency distribution gives p50 and p99:

  job list             GET /api/v1/jobs?limit=50
  job list, filtered   GET /api/v1/jobs?limit=50&status=succeeded&q=seeded
  job detail           GET /api/v1/jobs/<a seeded job>
  job's executions     GET /api/v1/jobs/<a seeded job>/executions?limit=100
  audit query          GET /api/v1/audit?limit=50
  audit, filtered      GET /api/v1/audit?limit=50&action=execution.*&actor=system
  job submission       POST /api/v1/jobs (one local system; the workers run them meanwhile)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import log, write_result
from bench.orca_stack import OrcaBench
from bench.throughput import GROUP, add_local_systems

TEMPLATE_SYSTEMS = 100


def _columns(rows: list[asyncpg.Record]) -> list[str]:
    return [row["column_name"] for row in rows]


async def seed(url: str, template_job: str, executions: int, audit_rows: int) -> dict[str, float]:
    """Copies of the template job's rows, and chained audit rows; seconds each took."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    took: dict[str, float] = {}
    try:
        columns = {}
        for table in ("jobs", "executions"):
            columns[table] = _columns(
                await conn.fetch(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = $1 ORDER BY ordinal_position",
                    table,
                )
            )
        jobs = executions // TEMPLATE_SYSTEMS
        started = time.perf_counter()
        batch = 500
        for first in range(0, jobs, batch):
            count = min(batch, jobs - first)
            job_values = {
                "id": "gen_random_uuid()",
                "name": "'seeded ' || g",
                "created_at": "t.created_at - (g || ' seconds')::interval",
                "started_at": "t.started_at - (g || ' seconds')::interval",
                "finished_at": "t.finished_at - (g || ' seconds')::interval",
                "updated_at": "t.updated_at - (g || ' seconds')::interval",
                "event_seq": "nextval('job_event_seq')",
            }
            select = ", ".join(job_values.get(c, f"t.{c}") for c in columns["jobs"])
            execution_values = {
                "id": "gen_random_uuid()",
                "job_id": "j.id",
                "created_at": "j.created_at",
                "queued_at": "j.created_at",
                "started_at": "j.started_at",
                "finished_at": "j.finished_at",
            }
            select_e = ", ".join(execution_values.get(c, f"e.{c}") for c in columns["executions"])
            async with conn.transaction():
                await conn.execute(
                    f"""
                    WITH new_jobs AS (
                      INSERT INTO jobs ({", ".join(columns["jobs"])})
                      SELECT {select} FROM jobs t, generate_series($2::int, $3::int) g
                      WHERE t.id = $1
                      RETURNING id, created_at, started_at, finished_at
                    )
                    INSERT INTO executions ({", ".join(columns["executions"])})
                    SELECT {select_e} FROM new_jobs j
                    CROSS JOIN (SELECT * FROM executions WHERE job_id = $1) e
                    """,  # noqa: S608 - column names from the catalog, values are parameters
                    template_job,
                    first + 1,
                    first + count,
                )
            if (first // batch) % 20 == 0:
                log(
                    f"seeded {first + count} jobs ({(first + count) * TEMPLATE_SYSTEMS} executions)"
                )
        took["executions"] = time.perf_counter() - started
        started = time.perf_counter()
        actions = ["execution.start", "execution.finish", "job.create", "auth.login", "job.finish"]
        for first in range(0, audit_rows, 50_000):
            count = min(50_000, audit_rows - first)
            async with conn.transaction():
                await conn.execute(
                    """
                    INSERT INTO audit_log (actor_username, action, outcome, target_type,
                                           target_id, details)
                    SELECT CASE WHEN g % 5 = 3 THEN 'operator-' || (g % 40) ELSE 'system' END,
                           ($3::text[])[1 + g % 5], 'success', 'execution', gen_random_uuid()::text,
                           jsonb_build_object('job_id', gen_random_uuid(), 'n', g)
                    FROM generate_series($1::int, $2::int) g
                    """,
                    first + 1,
                    first + count,
                    actions,
                )
            if (first // 50_000) % 4 == 0:
                log(f"seeded {first + count} audit rows")
        took["audit"] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("ANALYZE")
        took["analyze"] = time.perf_counter() - started
    finally:
        await conn.close()
    return took


LUA_POST = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""


def wrk(
    url: str, token: str, seconds: int, connections: int, body: str | None = None
) -> dict[str, Any]:
    argv = [
        "wrk", "--latency", "-t", "1", "-c", str(connections), "-d", f"{seconds}s",
        "-H", f"Authorization: Bearer {token}",
    ]  # fmt: skip
    script_dir = None
    if body is not None:
        script_dir = Path(tempfile.mkdtemp(prefix="orca-bench-wrk-"))
        script = script_dir / "post.lua"
        script.write_text(LUA_POST.format(body=body))
        argv += ["-s", str(script)]
    try:
        done = subprocess.run([*argv, url], capture_output=True, text=True, check=True)
    finally:
        if script_dir is not None:
            shutil.rmtree(script_dir, ignore_errors=True)
    return _parse_wrk(done.stdout)


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _parse_wrk(out: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for label in ("50%", "75%", "90%", "99%"):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if match:
            result[f"p{label[:-1]}_ms"] = round(float(match.group(1)) * _UNIT[match.group(2)], 2)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["requests_per_second"] = float(rate.group(1)) if rate else None
    total = re.search(r"(\d+) requests in", out)
    result["requests"] = int(total.group(1)) if total else None
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(bad.group(1)) if bad else 0
    errors = re.search(r"Socket errors: (.*)", out)
    result["socket_errors"] = errors.group(1).strip() if errors else None
    return result


def _report(name: str, measured: dict[str, Any]) -> dict[str, Any]:
    log(
        f"{name}: p50 {measured.get('p50_ms')} ms, p99 {measured.get('p99_ms')} ms, "
        f"{measured['requests_per_second']} req/s, non-2xx {measured['non_2xx']}"
    )
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--audit", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk (Debian: apt-get install wrk)")
    results: dict[str, Any] = {
        "executions": args.executions,
        "audit_rows": args.audit,
        "seconds": args.seconds,
        "connections": args.connections,
        "endpoints": {},
    }
    with OrcaBench(args.workers) as orca:
        assert orca.stack is not None
        add_local_systems(orca, TEMPLATE_SYSTEMS)
        template = orca.run_job({"command": "echo seeded", "targets": {"groups": [GROUP]}}).extra[
            "job_id"
        ]
        results["seeding_seconds"] = asyncio.run(
            seed(orca.stack.database_url, template, args.executions, args.audit)
        )
        log(f"seeded: {results['seeding_seconds']}")
        job_id = orca.get("/jobs", limit=1, q="seeded")["items"][0]["id"]
        base = f"{orca.url}/api/v1"
        local = orca.get("/systems", q="local-0000")["items"][0]["id"]
        endpoints = {
            "job list": f"{base}/jobs?limit=50",
            "job list, filtered": f"{base}/jobs?limit=50&status=succeeded&q=seeded",
            "job detail": f"{base}/jobs/{job_id}",
            "job's executions": f"{base}/jobs/{job_id}/executions?limit=100",
            "audit query": f"{base}/audit?limit=50",
            "audit, filtered": f"{base}/audit?limit=50&action=execution.*&actor=system",
        }
        for name, url in endpoints.items():
            results["endpoints"][name] = _report(
                name, wrk(url, orca.token, args.seconds, args.connections)
            )
        body = json.dumps({"command": "true", "targets": {"systems": [local]}})
        results["endpoints"]["job submission"] = _report(
            "job submission",
            wrk(f"{base}/jobs", orca.token, args.seconds, args.connections, body=body),
        )
    print(json.dumps(results["endpoints"], indent=2))
    write_result("api_latency", results)


if __name__ == "__main__":
    main()
