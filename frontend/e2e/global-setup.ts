// Starts the backend the browser tests talk to (tests/e2e/stack.py: `orca up`, sshd servers,
// seeded accounts) and stops it afterwards by closing its stdin, then by PID if it lingers.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";

import type { TestProject } from "vitest/node";

export type StackInfo = {
  url: string;
  admin: { username: string; password: string };
  viewer: { username: string; password: string };
  ssh_systems: string[];
  spare_ssh: { port: number; fingerprint: string } | null;
  ssh_host_keys: Record<string, string>;
};

declare module "vitest" {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

const root = resolve(import.meta.dirname, "../..");

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  return new Promise((done) => {
    if (child.exitCode !== null) return done(true);
    const timer = setTimeout(() => done(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      done(true);
    });
  });
}

export default async function setup(project: TestProject) {
  if (!existsSync(resolve(root, "frontend/dist/index.html"))) {
    throw new Error("frontend/dist is missing: `npm run e2e` builds it first (npm run build)");
  }
  // ORCA_PYTHON may be relative to where the tests were started (frontend/).
  const python = process.env.ORCA_PYTHON
    ? resolve(process.env.ORCA_PYTHON)
    : resolve(root, ".venv/bin/python");
  const child = spawn(python, ["-m", "tests.e2e.stack"], {
    cwd: root,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<StackInfo>((done, fail) => {
    child.once("exit", (code) =>
      fail(new Error(`tests.e2e.stack exited (${code}) before it was ready`)),
    );
    lines.once("line", (line) => done(JSON.parse(line) as StackInfo));
  });
  project.provide("stack", info);

  return async () => {
    child.stdin?.end();
    if (!(await waitExit(child, 90_000))) {
      child.kill("SIGKILL");
      await waitExit(child, 10_000);
    }
  };
}
