// Debian's chromium driven by playwright-core (no browser download): headless, no sandbox (CI
// runs as root), no background networking (this machine has no internet). Each test file
// gets its own browser; each context a fresh profile.
import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";

import AxeBuilder from "axe-core";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";

export const CHROMIUM = process.env.ORCA_CHROMIUM ?? "/usr/bin/chromium";
export const ARTIFACTS = resolve(import.meta.dirname, "artifacts");

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (./scripts/test does, as root)`,
    );
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

export async function newContext(
  browser: Browser,
  baseURL: string,
  colorScheme: "light" | "dark" = "light",
  viewport = { width: 1400, height: 900 },
): Promise<BrowserContext> {
  return browser.newContext({ baseURL, colorScheme, viewport });
}

export async function signIn(page: Page, username: string, password: string) {
  await page.goto("/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Account menu" }).waitFor();
}

/** Runs axe-core in the page; fails on any serious or critical violation. */
export async function expectAccessible(page: Page, name: string) {
  // Evaluated through the DevTools protocol: the console's Content-Security-Policy (rightly)
  // refuses inline scripts, so the scanner cannot be added as a <script>.
  await page.evaluate(AxeBuilder.source);
  const result = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run: (
            context: Document,
            options: object,
          ) => Promise<{
            violations: {
              id: string;
              impact: string;
              help: string;
              nodes: { target: string[] }[];
            }[];
          }>;
        };
      }
    ).axe;
    return axe.run(document, { resultTypes: ["violations"] });
  });
  const serious = result.violations.filter(
    (violation) => violation.impact === "serious" || violation.impact === "critical",
  );
  const summary = serious.map(
    (violation) =>
      `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes
        .slice(0, 3)
        .map((node) => node.target.join(" "))
        .join(", ")}`,
  );
  expect(summary, `accessibility of ${name}`).toEqual([]);
}

export async function screenshot(page: Page, name: string) {
  const folder = resolve(ARTIFACTS, "screenshots");
  mkdirSync(folder, { recursive: true });
  await page.screenshot({ path: resolve(folder, `${name}.png`), fullPage: true });
}
