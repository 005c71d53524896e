"""Operations at scale: the scheduler, retention and a /metrics scrape, each against the plain
way of doing the same thing.

    python -m bench.operations --schedules 200 --executions 200000 --runs 3

- scheduler: S schedules (each a template on one local system) made due at once; the time
  until every one has launched its job through the workers' ticks (every second here), against
  S jobs submitted one after another through `POST /api/v1/jobs` (what a cron script calling
  the API would do). Both counted to the last job created, not run.
- retention: N executions of 1 KiB of output each, in jobs finished 100 days ago. Orca's
  retention (output older than 30 days, batches of `--batch` executions, a transaction each)
  against one `DELETE` of the same chunks in one transaction (seeded again for it): total time,
  and how long the longest transaction held its rows.
- metrics: p50 and p99 of `--scrapes` scrapes of `/metrics` with those N executions stored.

Runs on a real `orca up` (bench.orca_stack), like the other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import asyncpg
import httpx

from app.core.db import create_engine, create_sessionmaker
from app.services import retention
from bench.api_latency import TEMPLATE_SYSTEMS, seed
from bench.common import log, median, percentile, write_result
from bench.orca_stack import OrcaBench
from bench.throughput import GROUP, add_local_systems

CHUNK = 1024


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _scalar(url: str, query: str, *args: object) -> Any:
    conn = await asyncpg.connect(_dsn(url))
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


# The scheduler ---------------------------------------------------------------------------------


def scheduler_round(orca: OrcaBench, url: str, count: int, round_no: int) -> dict[str, float]:
    template = orca.post(
        "/templates",
        {
            "name": f"bench-template-{round_no}",
            "command": "true",
            "targets": {"systems": ["local-0000"]},
        },
    )
    for index in range(count):
        orca.post(
            "/schedules",
            {
                "name": f"bench-{round_no}-{index:04d}",
                "template": template["id"],
                "cron": "0 0 1 1 *",
                "skip_if_running": False,
            },
        )
    prefix = f"bench-{round_no}-%"
    started = time.perf_counter()
    asyncio.run(
        _scalar(
            url,
            "UPDATE schedules SET next_run_at = clock_timestamp() WHERE name LIKE $1",
            prefix,
        )
    )
    query = (
        "SELECT count(*) FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id "
        "WHERE s.name LIKE $1 AND r.status = 'launched'"
    )
    while asyncio.run(_scalar(url, query, prefix)) < count:
        if time.perf_counter() - started > 600:
            raise SystemExit("the schedules did not all launch within 10 minutes")
        time.sleep(0.05)
    ticks = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(count):
        orca.post("/jobs", {"command": "true", "targets": {"systems": ["local-0000"]}})
    api = time.perf_counter() - started
    log(f"scheduler round {round_no}: {count} due at once launched in {ticks:.2f}s; API {api:.2f}s")
    return {"ticks_seconds": ticks, "api_seconds": api}


# Retention -------------------------------------------------------------------------------------


async def _age_with_output(url: str) -> int:
    """Give every seeded execution 1 KiB of output and make its job 100 days old."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        async with conn.transaction():
            await conn.execute(
                "DELETE FROM execution_output WHERE execution_id IN (SELECT e.id "
                "FROM executions e JOIN jobs j ON j.id = e.job_id "
                "WHERE j.name LIKE 'seeded %')"
            )
            await conn.execute(
                """
                INSERT INTO execution_output (execution_id, seq, stream, data)
                SELECT e.id, 1, 'stdout', convert_to(repeat('x', $1 - 1) || E'\\n', 'UTF8')
                FROM executions e JOIN jobs j ON j.id = e.job_id WHERE j.name LIKE 'seeded %'
                """,
                CHUNK,
            )
            await conn.execute(
                "UPDATE executions e SET output_seq = 1, output_bytes = $1, "
                "output_purged_at = NULL FROM jobs j WHERE j.id = e.job_id "
                "AND j.name LIKE 'seeded %'",
                CHUNK,
            )
            count: int = await conn.fetchval(
                "WITH aged AS (UPDATE jobs SET finished_at = now() - interval '100 days', "
                "output_purged_at = NULL WHERE name LIKE 'seeded %' RETURNING target_count) "
                "SELECT coalesce(sum(target_count), 0) FROM aged"
            )
        await conn.execute("ANALYZE")
        return count
    finally:
        await conn.close()


async def _orca_retention(url: str, batch: int) -> dict[str, float]:
    engine = create_engine(url, pool_size=2, max_overflow=0)
    try:
        maker = create_sessionmaker(engine)
        policy = retention.Policy(output_days=30, jobs_days=0, batch_size=batch)
        started = time.perf_counter()
        report = await retention.enforce(maker, policy)
        total = time.perf_counter() - started
    finally:
        await engine.dispose()
    batches = max(1, -(-report.executions_output_removed // batch))
    return {
        "seconds": total,
        "executions": report.executions_output_removed,
        "bytes": report.output_bytes_removed,
        "transactions": batches,
        "mean_transaction_seconds": total / batches,
    }


async def _one_delete(url: str) -> dict[str, float]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        started = time.perf_counter()
        async with conn.transaction():
            deleted = await conn.execute(
                "DELETE FROM execution_output o USING executions e, jobs j "
                "WHERE o.execution_id = e.id AND j.id = e.job_id "
                "AND j.finished_at < now() - interval '30 days'"
            )
            await conn.execute(
                "UPDATE executions e SET output_purged_at = now() FROM jobs j "
                "WHERE j.id = e.job_id AND j.finished_at < now() - interval '30 days'"
            )
        total = time.perf_counter() - started
    finally:
        await conn.close()
    return {"seconds": total, "rows": float(deleted.split()[-1]), "transactions": 1}


# Metrics ---------------------------------------------------------------------------------------


def scrape_latency(orca: OrcaBench, scrapes: int) -> dict[str, float]:
    times = []
    with httpx.Client(base_url=orca.url, timeout=30) as client:
        for _ in range(scrapes):
            started = time.perf_counter()
            response = client.get("/metrics", headers={"Authorization": f"Bearer {orca.token}"})
            times.append(time.perf_counter() - started)
            response.raise_for_status()
    return {"p50_ms": percentile(times, 0.5) * 1000, "p99_ms": percentile(times, 0.99) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--executions", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {"args": vars(args), "scheduler": [], "retention": []}
    with OrcaBench(2, {"ORCA_SCHEDULE_TICK_SECONDS": "1"}) as orca:
        assert orca.stack is not None
        url = orca.stack.database_url
        add_local_systems(orca, TEMPLATE_SYSTEMS)
        for round_no in range(args.runs):
            results["scheduler"].append(scheduler_round(orca, url, args.schedules, round_no))
        template = orca.run_job({"command": "echo seeded", "targets": {"groups": [GROUP]}})
        results["seeding_seconds"] = asyncio.run(
            seed(url, template.extra["job_id"], args.executions, 0)
        )
        results["metrics"] = scrape_latency(orca, args.scrapes)
        log(f"metrics scrape: {results['metrics']}")
        for round_no in range(args.runs):
            aged = asyncio.run(_age_with_output(url))
            ours = asyncio.run(_orca_retention(url, args.batch))
            asyncio.run(_age_with_output(url))
            plain = asyncio.run(_one_delete(url))
            log(
                f"retention round {round_no}: {aged} executions; batched {ours['seconds']:.2f}s "
                f"({ours['transactions']} transactions), one DELETE {plain['seconds']:.2f}s"
            )
            results["retention"].append({"orca": ours, "one_delete": plain, "executions": aged})
    scheduler_ratio = median(r["ticks_seconds"] / r["api_seconds"] for r in results["scheduler"])
    retention_ratio = median(
        r["orca"]["seconds"] / r["one_delete"]["seconds"] for r in results["retention"]
    )
    longest_ratio = median(
        r["orca"]["mean_transaction_seconds"] / r["one_delete"]["seconds"]
        for r in results["retention"]
    )
    results["summary"] = {
        "scheduler_seconds_median": median(r["ticks_seconds"] for r in results["scheduler"]),
        "scheduler_vs_api_submits": scheduler_ratio,
        "retention_seconds_median": median(r["orca"]["seconds"] for r in results["retention"]),
        "retention_vs_one_delete": retention_ratio,
        "retention_transaction_vs_one_delete": longest_ratio,
        "metrics_scrape": results["metrics"],
    }
    log(f"summary: {results['summary']}")
    write_result("operations", results)


if __name__ == "__main__":
    main()
