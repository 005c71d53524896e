// Job templates and schedules in the console against a real Orca: make a template with typed
// parameters (the API's field error shown beside the field first), launch it filling them in
// and watch the job succeed with the rendered command's output; schedule it and see its next
// runs, pause it; the API's refusal to delete a template with schedules; and a viewer who sees
// the template and the schedule but no control to launch, edit or pause them.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { expectAccessible, launch, newContext, signIn } from "./browser";

const stack = inject("stack");
let browser: Browser;
let page: Page;
let templateUrl = "";

beforeAll(async () => {
  browser = await launch();
  const context = await newContext(browser, stack.url);
  page = await context.newPage();
  await signIn(page, stack.admin.username, stack.admin.password);
});

afterAll(async () => {
  await browser?.close();
});

describe("templates and schedules", () => {
  it("creates a template with typed parameters, showing the API's field error beside the field", async () => {
    await page.goto("/templates");
    await page.getByRole("link", { name: "New template" }).click();
    await page.getByRole("heading", { name: "New template", level: 1 }).waitFor();
    await page.getByRole("textbox", { name: "Name", exact: true }).first().fill("greet");
    await page.getByLabel("Groups").click();
    await page.getByRole("option", { name: "web" }).click();
    await page.keyboard.press("Escape");
    await page.getByTestId("target-count").filter({ hasText: "Matches 3 systems" }).waitFor();
    // {{ whom }} names no parameter: the API refuses it, naming the command.
    await page.getByRole("textbox", { name: "Command" }).fill("echo hello {{ whom }} x{{ times }}");

    await page.getByRole("button", { name: "Add a parameter" }).click();
    const who = page.getByRole("group", { name: "Parameter 1" });
    await who.getByRole("textbox", { name: "Name", exact: true }).fill("who");
    await who.getByLabel("Label").fill("Who to greet");
    await who.getByLabel("Pattern").fill("[a-z ]+");
    await page.getByRole("button", { name: "Add a parameter" }).click();
    const times = page.getByRole("group", { name: "Parameter 2" });
    await times.getByRole("textbox", { name: "Name", exact: true }).fill("times");
    await times.getByRole("combobox", { name: "Type" }).click();
    await page.getByRole("option", { name: "Integer" }).click();
    await times.getByLabel("Default").fill("2");
    await times.getByLabel("Minimum").fill("1");
    await times.getByLabel("Maximum").fill("5");

    await page.getByRole("button", { name: "Give a team access" }).click();
    await page.getByRole("combobox", { name: "Team 1" }).fill("watch");
    await page.getByRole("option", { name: "watchers" }).click();

    await page.getByRole("button", { name: "Create template" }).click();
    await page.getByRole("alert").filter({ hasText: "Not saved" }).waitFor();
    await page.getByText("{{ whom }} names no parameter", { exact: true }).waitFor();
    expect(await page.getByRole("textbox", { name: "Command" }).getAttribute("aria-invalid")).toBe(
      "true",
    );

    await page.getByRole("textbox", { name: "Command" }).fill("echo hello {{ who }} x{{ times }}");
    await page.getByRole("button", { name: "Create template" }).click();
    await page.getByRole("heading", { name: "greet", exact: true, level: 1 }).waitFor();
    templateUrl = new URL(page.url()).pathname;
    const parameters = page.getByRole("table", { name: "Parameters" });
    expect(await parameters.textContent()).toContain("matching [a-z ]+");
    await page.getByText("watchers: launch").waitFor();
    await expectAccessible(page, "template");
  });

  it("launches it from a form made of its parameters, and shows the job's output", async () => {
    await page.getByRole("link", { name: "Launch", exact: true }).click();
    await page.getByRole("heading", { name: "Launch greet", level: 1 }).waitFor();
    const who = page.getByRole("textbox", { name: "Who to greet" });
    const times = page.getByRole("spinbutton", { name: "times" });
    expect(await times.inputValue()).toBe("2");
    await who.fill("Orca Fleet");
    await page.getByText("must match [a-z ]+").waitFor();
    await who.fill("orca fleet");
    await times.fill("3");
    await expectAccessible(page, "launch form");
    await page.getByRole("button", { name: "Launch", exact: true }).click();

    await page.getByRole("heading", { name: "greet", exact: true, level: 1 }).waitFor();
    expect(page.url()).toContain("/jobs/");
    await page.getByRole("log").filter({ hasText: "hello orca fleet x3" }).waitFor();
    await expect
      .poll(() => page.locator('[role=option][data-system][data-status="succeeded"]').count(), {
        timeout: 30_000,
      })
      .toBe(3);
    const origin = page.getByTestId("job-origin");
    expect(await origin.textContent()).toContain("From template greet (v1)");
    await origin.getByText("who = orca fleet").waitFor();
    await origin.getByText("times = 3").waitFor();
    await origin.getByRole("link", { name: "greet" }).click();
    await page.getByRole("heading", { name: "greet", exact: true, level: 1 }).waitFor();
  });

  it("schedules it with a live preview of the next runs, then pauses it", async () => {
    await page.getByRole("link", { name: "Schedule", exact: true }).click();
    await page.getByRole("heading", { name: "New schedule", level: 1 }).waitFor();
    expect(await page.getByRole("combobox", { name: "Template" }).inputValue()).toBe("greet");
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("nightly greet");
    const cron = page.getByRole("textbox", { name: "Cron expression" });
    await cron.fill("61 * * * *");
    await page
      .getByTestId("cron-preview")
      .getByText(/not a cron expression/)
      .waitFor();
    await cron.fill("30 2 * * 1-5");
    const timeZone = page.getByRole("combobox", { name: "Time zone" });
    await timeZone.fill("Europe/Berl");
    await page.getByRole("option", { name: "Europe/Berlin" }).click();
    const preview = page.getByTestId("cron-preview");
    await preview.getByText(/2:30/).first().waitFor();
    expect(await preview.getByRole("listitem").count()).toBe(5);
    await page.getByRole("textbox", { name: "Who to greet" }).fill("night shift");
    await page.getByRole("radio", { name: /Run once/ }).check();
    await expectAccessible(page, "schedule form");
    await page.getByRole("button", { name: "Create schedule" }).click();

    await page.getByRole("heading", { name: "nightly greet", exact: true, level: 1 }).waitFor();
    const nextRuns = page.getByRole("list", { name: "Next runs" });
    expect(await nextRuns.getByRole("listitem").count()).toBe(5);
    expect(await nextRuns.textContent()).toMatch(/2:30/);
    await page.getByText("Nothing has been due yet.").waitFor();
    await page.getByRole("button", { name: "Pause" }).click();
    await page.getByTestId("paused").waitFor();
    await page.getByText("None while paused.").waitFor();
    await page.getByRole("button", { name: "Resume" }).waitFor();
    await expectAccessible(page, "schedule");

    await page.goto("/schedules");
    const row = page.getByRole("row").filter({ hasText: "nightly greet" });
    await row.getByText("paused").waitFor();
    await row.getByRole("switch", { name: "Resume nightly greet" }).click();
    await row.getByRole("switch", { name: "Pause nightly greet", checked: true }).waitFor();
  });

  it("says why a template with schedules cannot be deleted", async () => {
    await page.goto(templateUrl);
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await page
      .getByRole("alert")
      .filter({ hasText: "the template has schedules (nightly greet); delete them first" })
      .waitFor();
  });

  it("shows a viewer the template and its schedule, with no control to launch, edit or pause", async () => {
    const context = await newContext(browser, stack.url);
    const viewer = await context.newPage();
    await signIn(viewer, stack.viewer.username, stack.viewer.password);
    await viewer.getByRole("link", { name: "Templates" }).click();
    const table = viewer.getByRole("table", { name: "Templates" });
    await table.getByRole("link", { name: "greet" }).waitFor();
    expect(await viewer.getByRole("link", { name: /New template|Launch/ }).count()).toBe(0);
    await table.getByRole("link", { name: "greet" }).click();
    await viewer.getByRole("heading", { name: "greet", exact: true, level: 1 }).waitFor();
    await viewer.getByRole("table", { name: "Parameters" }).waitFor();
    expect(await viewer.getByRole("link", { name: /^(Launch|Schedule|Edit)$/ }).count()).toBe(0);
    expect(await viewer.getByRole("button", { name: "Delete" }).count()).toBe(0);

    await viewer.getByRole("link", { name: "nightly greet" }).click();
    await viewer.getByRole("heading", { name: "nightly greet", exact: true, level: 1 }).waitFor();
    await viewer.getByRole("list", { name: "Next runs" }).waitFor();
    expect(await viewer.getByRole("button", { name: /Pause|Resume|Delete/ }).count()).toBe(0);
    expect(await viewer.getByRole("link", { name: "Edit" }).count()).toBe(0);
    await viewer.goto("/schedules");
    const row = viewer.getByRole("row").filter({ hasText: "nightly greet" });
    expect(await row.getByRole("switch").isDisabled()).toBe(true);
    expect(await viewer.getByRole("link", { name: "New schedule" }).count()).toBe(0);
    await context.close();
  });
});
