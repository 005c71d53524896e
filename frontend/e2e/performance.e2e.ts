// A big job in the console: 200 systems printing 250 lines each (50,000 lines in the job), and
// one system printing 50,000 coloured lines. Measured, not judged: the times go to
// e2e/artifacts/performance.json and the test log; the assertions are about what is shown.
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { Api } from "./api";
import { ARTIFACTS, launch, newContext, signIn } from "./browser";

const stack = inject("stack");
const SYSTEMS = 200;
const results: Record<string, number> = {};
let browser: Browser;
let page: Page;
let api: Api;

/** Scrolls `selector` from top to bottom in `steps`, one step per frame; returns the frames'
 * durations in ms (what a person feels as smoothness). */
async function scrollFrames(page: Page, selector: string, steps: number): Promise<number[]> {
  return page.evaluate(
    async ({ selector, steps }) => {
      const element = document.querySelector<HTMLElement>(selector);
      if (!element) throw new Error(`no ${selector}`);
      const frames: number[] = [];
      let last = performance.now();
      for (let step = 0; step <= steps; step++) {
        element.scrollTop = ((element.scrollHeight - element.clientHeight) * step) / steps;
        await new Promise((done) => requestAnimationFrame(() => done(null)));
        const now = performance.now();
        frames.push(now - last);
        last = now;
      }
      return frames;
    },
    { selector, steps },
  );
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const p95 = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)] ?? 0;

beforeAll(async () => {
  api = await Api.login(stack.url, stack.admin.username, stack.admin.password);
  const rows = Array.from({ length: SYSTEMS }, (_, i) => ({
    name: `perf-${String(i + 1).padStart(3, "0")}`,
    connector: "local",
    host: "localhost",
    labels: { perf: "yes" },
    max_concurrency: 8,
  }));
  await api.call("POST", "/systems/import", rows);
  browser = await launch();
  page = await (await newContext(browser, stack.url)).newPage();
  await signIn(page, stack.admin.username, stack.admin.password);
}, 180_000);

afterAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(resolve(ARTIFACTS, "performance.json"), JSON.stringify(results, null, 2));
  console.log("console performance (ms):", JSON.stringify(results, null, 2));
  await browser?.close();
});

describe("a job with 200 systems and 50,000 lines of output", () => {
  it("renders its systems and scrolls them", async () => {
    const job = await api.call<{ id: string }>("POST", "/jobs", {
      name: "perf: 200 systems x 250 lines",
      command: "seq 1 250 | sed 's/^/output line /'",
      targets: { labels: [{ perf: "yes" }] },
    });
    const done = await api.finished(job.id, 300_000);
    expect(done.counts.succeeded).toBe(SYSTEMS);

    const started = Date.now();
    await page.goto(`/jobs/${job.id}`);
    await page.locator(`[aria-label="Systems of this job"][data-rows="${SYSTEMS}"]`).waitFor();
    await page.getByRole("log").filter({ hasText: "output line 250" }).waitFor();
    results.job_200_systems_first_render = Date.now() - started;
    expect(await page.locator('[data-testid="status-grid"] > *').count()).toBe(SYSTEMS);
    // Only the rows on screen are in the page.
    expect(await page.locator('[role="option"][data-system]').count()).toBeLessThan(60);

    const frames = await scrollFrames(page, '[aria-label="Systems of this job"]', 60);
    results.job_200_systems_scroll_frame_median = median(frames);
    results.job_200_systems_scroll_frame_p95 = p95(frames);
    await page.locator('[role="option"][data-system="perf-200"]').waitFor();

    const switched = Date.now();
    await page.locator('[role="option"][data-system="perf-200"]').click();
    await page
      .getByRole("log", { name: "Output of perf-200" })
      .filter({ hasText: "output line 250" })
      .waitFor();
    results.switch_system_output = Date.now() - switched;
  });

  it("renders, scrolls and searches 50,000 lines of one system", async () => {
    const job = await api.call<{ id: string }>("POST", "/jobs", {
      name: "perf: 50,000 coloured lines",
      command:
        "seq 1 50000 | awk '{ printf \"\\033[32mline %d\\033[0m of fifty thousand, \\033[1mok\\033[0m\\n\", $1 }'",
      targets: { systems: ["perf-001"] },
    });
    await api.finished(job.id);

    const started = Date.now();
    await page.goto(`/jobs/${job.id}`);
    await page.locator('[role="log"][data-lines="50000"]').waitFor({ timeout: 60_000 });
    await page.getByRole("log").filter({ hasText: "line 50000 of fifty thousand" }).waitFor();
    results.output_50000_lines_render = Date.now() - started;
    // Coloured, and only what is on screen is in the page.
    expect(await page.locator(".output-line").count()).toBeLessThan(120);
    expect(await page.locator('.output-line span[style*="--ansi-green"]').count()).toBeGreaterThan(
      0,
    );

    await page.getByRole("switch", { name: "Follow" }).uncheck();
    const frames = await scrollFrames(page, '[role="log"]', 120);
    results.output_scroll_frame_median = median(frames);
    results.output_scroll_frame_p95 = p95(frames);

    const searched = Date.now();
    await page.getByLabel("Find in output").fill("line 49999");
    await page.getByText("1 of 1").waitFor();
    await page.getByLabel("Find in output").press("Enter");
    await page.locator("mark.output-match").filter({ hasText: "line 49999" }).waitFor();
    results.output_search_and_jump = Date.now() - searched;
  });
});
