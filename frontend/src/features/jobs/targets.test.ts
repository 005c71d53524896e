import { describe, expect, it } from "vitest";

import { parseSelector, toTargets } from "@/features/jobs/targets";

describe("targets", () => {
  it("parses label selectors", () => {
    expect(parseSelector("os=linux, env = prod")).toEqual({ os: "linux", env: "prod" });
    expect(parseSelector("")).toBeNull();
    expect(parseSelector("no-equals")).toBeNull();
    expect(parseSelector("=x")).toBeNull();
  });

  it("leaves out empty and broken selectors", () => {
    expect(
      toTargets({ systems: ["web-1"], groups: ["db"], selectors: ["os=linux", "", "oops"] }),
    ).toEqual({
      systems: ["web-1"],
      groups: ["db"],
      labels: [{ os: "linux" }],
    });
  });
});
