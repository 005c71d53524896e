// The console against a real Orca: sign in, add a system, run a job on three sshd systems and
// watch its output arrive live, cancel one system, rerun the failed, find it all in the audit
// log, and as a viewer find no run controls.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { launch, newContext, signIn } from "./browser";

const stack = inject("stack");
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  browser = await launch();
  context = await newContext(browser, stack.url);
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
});

describe("the web console", () => {
  it("refuses a wrong password and signs in with the right one", async () => {
    await page.goto("/jobs");
    await expect.poll(() => page.url()).toContain("/login?next=%2Fjobs");
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "Wrong username or password" }).waitFor();
    await page.getByLabel("Password").fill(stack.admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
  });

  it("keeps the session across a reload without storing the token in the page", async () => {
    await page.reload();
    await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
    const stored = await page.evaluate(
      () =>
        JSON.stringify({ ...localStorage }) +
        JSON.stringify({ ...sessionStorage }) +
        document.cookie,
    );
    expect(stored).not.toMatch(/eyJ|ort_/);
    const cookies = await context.cookies();
    const refresh = cookies.find((cookie) => cookie.name === "orca_refresh");
    expect(refresh?.httpOnly).toBe(true);
    expect(refresh?.sameSite).toBe("Strict");
  });

  it("refreshes an expired access token once, without the user noticing", async () => {
    // The stack's access tokens live 30 seconds, and the API tolerates 30 seconds of clock
    // difference between replicas: after 61 seconds the page's token is refused.
    const seen: string[] = [];
    const record = (response: { url: () => string; status: () => number }) => {
      const path = new URL(response.url()).pathname;
      if (path.startsWith("/api/")) seen.push(`${response.status()} ${path}`);
    };
    page.on("response", record);
    await page.waitForTimeout(61_000);
    await page.getByRole("link", { name: "Systems" }).click();
    await page.getByRole("table", { name: "Systems" }).getByRole("link").first().waitFor();
    page.off("response", record);
    expect(seen.filter((entry) => entry.endsWith("/api/v1/auth/refresh"))).toEqual([
      "200 /api/v1/auth/refresh",
    ]);
    expect(seen.some((entry) => entry.startsWith("401 "))).toBe(true);
    expect(page.url()).not.toContain("/login");
  });

  it("adds a system with the form", async () => {
    await page.goto("/systems/new");
    await page.getByLabel("Name").first().fill("e2e-local");
    await page.getByLabel("Connector").click();
    await page.getByRole("option", { name: "Local (the worker's host)" }).click();
    await page.getByLabel("Labels").fill("role=e2e, os=linux");
    await page.getByRole("button", { name: "Add system" }).click();
    await page.getByRole("heading", { name: "e2e-local", level: 1 }).waitFor();
    await page.getByRole("button", { name: "Test connection" }).click();
    const result = page.getByRole("status");
    await result.waitFor();
    expect(await result.textContent()).toContain("Connected, authenticated");
  });

  it("adds an SSH system, shows its scanned host key's fingerprint, and trusts it", async () => {
    const spare = stack.spare_ssh;
    expect(spare).not.toBeNull();
    await page.goto("/systems/new");
    await page.getByLabel("Name").first().fill("spare-1");
    await page.getByRole("textbox", { name: "Host", exact: true }).fill("127.0.0.1");
    await page.getByRole("spinbutton", { name: "Port", exact: true }).fill(String(spare!.port));
    await page.getByLabel("Credential").click();
    await page.getByRole("option", { name: /fleet-ssh/ }).click();
    await page.getByRole("button", { name: "Add system" }).click();
    await page.getByRole("heading", { name: "spare-1", level: 1 }).waitFor();
    await page.getByText("No host key is trusted for this system yet").waitFor();
    await page.getByRole("button", { name: "Scan host key" }).click();
    const dialog = page.getByRole("dialog", { name: "Trust this host key?" });
    expect(await dialog.getByTestId("fingerprint").textContent()).toBe(spare!.fingerprint);
    await dialog.getByRole("button", { name: "Trust this key" }).click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByText(spare!.fingerprint).waitFor();
    await page.getByRole("button", { name: "Test connection" }).click();
    const result = page.getByRole("status");
    await result.waitFor();
    expect(await result.textContent()).toContain("Connected, authenticated");
  });

  it("imports systems, listing each bad row's problem first", async () => {
    await page.goto("/systems/import");
    const csv = page.getByRole("textbox", { name: "CSV" });
    await csv.fill(
      "name,host,port,connector\nimported-1,10.9.0.1,22,ssh\nimported-2,,99999,ssh\nimported-1,10.9.0.3,22,ssh",
    );
    await page.getByRole("button", { name: "Import" }).click();
    const problems = page.getByRole("table", { name: "Import problems" });
    await problems.waitFor();
    const text = (await problems.textContent()) ?? "";
    expect(text).toContain("port");
    expect(text).toContain("host");
    expect(text).toContain("also used by row");
    await csv.fill(
      "name,host,port,connector\nimported-1,10.9.0.1,22,ssh\nimported-2,10.9.0.2,2222,ssh",
    );
    await page.getByRole("button", { name: "Import" }).click();
    await expect.poll(() => page.url()).toContain("/systems?imported=2");
    await page.getByRole("table", { name: "Systems" }).getByText("imported-2").waitFor();
  });

  it("stores a credential and never shows its secret again", async () => {
    const secret = "hunter2-never-shown-" + Date.now();
    await page.goto("/credentials/new");
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("e2e-secret");
    await page.getByLabel("Username").fill("deploy");
    await page.getByLabel("Password").fill(secret);
    await page.getByRole("button", { name: "Store credential" }).click();
    await page
      .getByRole("table", { name: "Credentials" })
      .getByRole("link", { name: "e2e-secret" })
      .click();
    await page.getByRole("heading", { name: "Edit e2e-secret", level: 1 }).waitFor();
    expect(await page.getByLabel("Password").inputValue()).toBe("");
    expect(await page.content()).not.toContain(secret);
  });

  it("remembers the theme chosen and answers keyboard shortcuts", async () => {
    await page.goto("/");
    await page.getByRole("button", { name: "Theme: follows the system" }).click();
    await page.getByRole("button", { name: "Theme: light" }).click();
    await page.reload();
    await page.getByRole("button", { name: "Theme: dark" }).waitFor();
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(
      "rgb(13, 22, 32)",
    );
    await page.getByRole("button", { name: "Theme: dark" }).click();
    await page.keyboard.press("g");
    await page.keyboard.press("s");
    await page.getByRole("heading", { name: "Systems", level: 1 }).waitFor();
    await page.keyboard.press("/");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-shortcut"))).toBe(
      "search",
    );
    await page.keyboard.press("Escape");
    await page.keyboard.press("?");
    await page.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
    await page.keyboard.press("Escape");
    await page.keyboard.press("n");
    await page.getByRole("heading", { name: "New job", level: 1 }).waitFor();
  });

  it("runs a job on three systems, shows output live, cancels one, and reruns the failed", async () => {
    await page.goto("/jobs/new");
    await page.getByLabel("Groups").click();
    await page.getByRole("option", { name: "web" }).click();
    await page.keyboard.press("Escape");
    await page.getByTestId("target-count").filter({ hasText: "Matches 3 systems" }).waitFor();
    await page
      .getByRole("textbox", { name: "Command" })
      .fill(
        'for i in 1 2 3 4 5 6; do echo "tick $i on $(hostname)"; sleep 1; done; [ "$i" = 6 ] && exit 3',
      );
    await page.getByRole("button", { name: "Run job" }).click();
    await page.getByRole("heading", { name: /for i in 1 2 3/, level: 1 }).waitFor();

    // The first line shows while the command still runs.
    const output = page.getByRole("log");
    await output.filter({ hasText: "tick 1" }).waitFor({ timeout: 30_000 });
    const running = await page.getByRole("option", { selected: true }).getAttribute("data-status");
    expect(running).toBe("running");
    expect(await output.textContent()).not.toContain("tick 6");

    // Cancel web-3 alone.
    await page.getByRole("button", { name: "Cancel on web-3" }).click();
    await page
      .locator('[role=option][data-system="web-3"][data-status="cancelled"]')
      .waitFor({ timeout: 30_000 });

    // The others run to their end: exit 3 is a failure.
    await page
      .locator('[role=option][data-system="web-1"][data-status="failed"]')
      .waitFor({ timeout: 30_000 });
    await page
      .locator('[role=option][data-system="web-2"][data-status="failed"]')
      .waitFor({ timeout: 30_000 });
    await output.filter({ hasText: "tick 6" }).waitFor();

    await page.getByRole("button", { name: /Rerun failed \(2\)/ }).click();
    await page.getByText("a rerun").waitFor();
    await expect.poll(async () => page.locator("[role=option][data-system]").count()).toBe(2);
  });

  it("shows the job's audit trail", async () => {
    await page.goto("/audit?action=job.*");
    await page
      .getByRole("table", { name: "Audit events" })
      .getByText("job.create")
      .first()
      .waitFor();
    await page.getByRole("button", { name: "Verify the chain" }).click();
    await page.getByTestId("verify-result").filter({ hasText: "The chain is intact" }).waitFor();
  });

  it("signs out, and a viewer finds no run controls", async () => {
    await page.getByRole("button", { name: "Account menu" }).click();
    await page.getByRole("menuitem", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await signIn(page, stack.viewer.username, stack.viewer.password);
    await page.goto("/jobs");
    await page.getByRole("table", { name: "Jobs" }).waitFor();
    expect(await page.getByRole("link", { name: "New job" }).count()).toBe(0);
    await page.getByRole("table", { name: "Jobs" }).getByRole("link").first().click();
    await page.getByRole("listbox", { name: "Systems of this job" }).waitFor();
    expect(await page.getByRole("button", { name: /Cancel|Rerun|Duplicate/ }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "Audit log" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "Admin" }).count()).toBe(0);
  });
});
