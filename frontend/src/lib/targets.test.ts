import { describe, expect, it } from "vitest";

import { describeTargets, draftOf, parseSelector, toTargets } from "@/lib/targets";

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

  it("turns stored targets back into a draft, and into words", () => {
    const stored = { systems: ["web-1"], labels: [{ os: "linux", env: "prod" }] };
    expect(draftOf(stored)).toEqual({
      systems: ["web-1"],
      groups: [],
      selectors: ["os=linux, env=prod"],
    });
    expect(toTargets(draftOf(stored))).toEqual({ groups: [], ...stored });
    expect(describeTargets({ groups: ["web"], systems: ["db-1"] })).toBe("db-1 · group web");
  });
});
