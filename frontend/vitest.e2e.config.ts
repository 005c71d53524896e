import { fileURLToPath, URL } from "node:url";

import { defineConfig } from "vitest/config";

// Browser tests: a real Orca (tests/e2e/stack.py) and Debian's chromium driven by
// playwright-core. One file at a time: they share the one backend.
export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.ts"],
    globalSetup: ["e2e/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ["default"],
  },
});
