// Every page, in light and dark: an axe-core scan with no serious or critical violation, and a
// screenshot in e2e/artifacts/screenshots for a person to look at. Then a phone-width pass.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, inject, it } from "vitest";

import { Api } from "./api";
import { expectAccessible, launch, newContext, screenshot, signIn } from "./browser";

const stack = inject("stack");
let browser: Browser;
let jobId = "";
let systemId = "";
let templateId = "";
let scheduleId = "";

type PageCase = { name: string; path: () => string; ready: (page: Page) => Promise<unknown> };

const heading = (name: string | RegExp) => (page: Page) =>
  page.getByRole("heading", { name, level: 1 }).waitFor();

const PAGES: PageCase[] = [
  {
    name: "dashboard",
    path: () => "/",
    ready: async (page) => page.getByText("Executions by state").waitFor(),
  },
  {
    name: "jobs",
    path: () => "/jobs",
    ready: async (page) =>
      page.getByRole("table", { name: "Jobs" }).getByRole("link").first().waitFor(),
  },
  {
    name: "job",
    path: () => `/jobs/${jobId}`,
    ready: async (page) => page.getByRole("log").filter({ hasText: "hello from" }).waitFor(),
  },
  { name: "new-job", path: () => "/jobs/new", ready: heading("New job") },
  {
    name: "systems",
    path: () => "/systems",
    ready: async (page) =>
      page.getByRole("table", { name: "Systems" }).getByRole("link").first().waitFor(),
  },
  {
    name: "system",
    path: () => `/systems/${systemId}`,
    ready: async (page) => page.getByText("Recent jobs").waitFor(),
  },
  { name: "new-system", path: () => "/systems/new", ready: heading("Add a system") },
  { name: "import-systems", path: () => "/systems/import", ready: heading("Import systems") },
  {
    name: "credentials",
    path: () => "/credentials",
    ready: async (page) =>
      page.getByRole("table", { name: "Credentials" }).getByText("fleet-ssh").waitFor(),
  },
  { name: "new-credential", path: () => "/credentials/new", ready: heading("New credential") },
  {
    name: "audit",
    path: () => "/audit",
    ready: async (page) =>
      page.getByRole("table", { name: "Audit events" }).getByText("auth.login").first().waitFor(),
  },
  {
    name: "admin-users",
    path: () => "/admin/users",
    ready: async (page) => page.getByRole("table", { name: "Users" }).getByText("vera").waitFor(),
  },
  {
    name: "admin-teams",
    path: () => "/admin/teams",
    ready: async (page) => page.getByText("watchers").waitFor(),
  },
  {
    name: "admin-groups",
    path: () => "/admin/groups",
    ready: async (page) => page.getByText("web").first().waitFor(),
  },
  {
    name: "admin-grants",
    path: () => "/admin/grants",
    ready: async (page) =>
      page.getByRole("table", { name: "Grants" }).getByText("watchers").waitFor(),
  },
  { name: "account", path: () => "/account", ready: heading("Your account") },
  {
    name: "templates",
    path: () => "/templates",
    ready: async (page) =>
      page.getByRole("table", { name: "Templates" }).getByText("rotate-logs").waitFor(),
  },
  {
    name: "template",
    path: () => `/templates/${templateId}`,
    ready: async (page) => page.getByRole("table", { name: "Parameters" }).waitFor(),
  },
  { name: "new-template", path: () => "/templates/new", ready: heading("New template") },
  {
    name: "edit-template",
    path: () => `/templates/${templateId}/edit`,
    ready: async (page) => page.getByRole("group", { name: "Parameter 5" }).waitFor(),
  },
  {
    name: "launch-template",
    path: () => `/templates/${templateId}/launch`,
    ready: async (page) => page.getByTestId("parameter-fields").waitFor(),
  },
  {
    name: "schedules",
    path: () => "/schedules",
    ready: async (page) =>
      page.getByRole("table", { name: "Schedules" }).getByText("nightly-rotate").waitFor(),
  },
  {
    name: "schedule",
    path: () => `/schedules/${scheduleId}`,
    ready: async (page) => page.getByRole("list", { name: "Next runs" }).waitFor(),
  },
  {
    name: "new-schedule",
    path: () => `/schedules/new?template=${templateId}`,
    ready: async (page) => page.getByTestId("next-runs").waitFor(),
  },
];

beforeAll(async () => {
  browser = await launch();
  const api = await Api.login(stack.url, stack.admin.username, stack.admin.password);
  const job = await api.call<{ id: string }>("POST", "/jobs", {
    command: 'printf "\\033[32mhello from %s\\033[0m\\n" "$(hostname)"; echo "to stderr" >&2',
    targets: { groups: ["web"] },
  });
  jobId = job.id;
  await api.finished(jobId);
  const systems = await api.call<{ items: { id: string }[] }>("GET", "/systems?q=web-1");
  systemId = systems.items[0]!.id;
  // A template with a parameter of every type, and a schedule of it.
  const template = await api.call<{ id: string }>("POST", "/templates", {
    name: "rotate-logs",
    description: "Rotate and compress the application logs",
    command: "logrotate -v {{ config }} --count {{ keep }} {{ mode }}",
    shell: "sh",
    targets: { groups: ["web"] },
    parameters: [
      { name: "config", label: "Config file", pattern: "/[a-z/.]+", default: "/etc/app.conf" },
      { name: "keep", type: "integer", minimum: 1, maximum: 30, default: 7 },
      { name: "force", type: "boolean", required: false },
      { name: "mode", type: "choice", choices: ["daily", "weekly"], default: "daily" },
      { name: "token", label: "Upload token", type: "secret", required: false },
    ],
    access: [{ team: "watchers", level: "launch" }],
  });
  templateId = template.id;
  const schedule = await api.call<{ id: string }>("POST", "/schedules", {
    name: "nightly-rotate",
    template: templateId,
    cron: "0 3 * * *",
    timezone: "Europe/Berlin",
    parameters: { keep: 14, token: "never-shown" },
  });
  scheduleId = schedule.id;
});

afterAll(async () => {
  await browser?.close();
});

for (const scheme of ["light", "dark"] as const) {
  describe(`every page, ${scheme}`, () => {
    let page: Page;
    beforeAll(async () => {
      const context = await newContext(browser, stack.url, scheme);
      page = await context.newPage();
      await page.goto("/login");
      await expectAccessible(page, `login (${scheme})`);
      await screenshot(page, `login-${scheme}`);
      await signIn(page, stack.admin.username, stack.admin.password);
    });

    for (const item of PAGES) {
      it(`${item.name} is accessible`, async () => {
        await page.goto(item.path());
        await item.ready(page);
        await expectAccessible(page, `${item.name} (${scheme})`);
        await screenshot(page, `${item.name}-${scheme}`);
      });
    }
  });
}

describe("at phone width", () => {
  it("navigates through the menu and shows a job", async () => {
    const context = await newContext(browser, stack.url, "light", { width: 390, height: 844 });
    const page = await context.newPage();
    await signIn(page, stack.admin.username, stack.admin.password);
    await page.getByRole("button", { name: "Open navigation" }).click();
    await page.getByRole("link", { name: "Jobs" }).click();
    await page.getByRole("table", { name: "Jobs" }).getByRole("link").first().click();
    await page.getByRole("log").filter({ hasText: "hello from" }).waitFor();
    await expectAccessible(page, "job (phone)");
    await screenshot(page, "job-phone");
    await page.goto("/");
    await page.getByText("Executions by state").waitFor();
    await screenshot(page, "dashboard-phone");
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    if (overflow > 1) throw new Error(`the dashboard is ${overflow}px wider than a phone`);
  });
});
