import { describe, expect, it } from "vitest";

import { defOf, newDef, parameterOf, placeholders } from "@/features/templates/parameter-defs";

describe("parameter definitions", () => {
  it("send only what applies to the type", () => {
    // Constraints typed while the parameter was a string stay behind when it becomes a choice.
    const def = {
      ...newDef(),
      name: "colour",
      type: "choice" as const,
      choices: ["red", "blue"],
      default: "red",
      pattern: "[a-z]+",
      maxLength: "10",
      minimum: "1",
    };
    expect(parameterOf(def)).toEqual({
      name: "colour",
      label: null,
      description: null,
      type: "choice",
      required: true,
      default: "red",
      choices: ["red", "blue"],
    });
  });

  it("type the default and the bounds", () => {
    const integer = { ...newDef(), name: "n", type: "integer" as const, default: "3" };
    expect(parameterOf({ ...integer, minimum: "1", maximum: "" })).toMatchObject({
      default: 3,
      minimum: 1,
      maximum: null,
    });
    const flag = { ...newDef(), name: "f", type: "boolean" as const, default: "false" };
    expect(parameterOf(flag).default).toBe(false);
    const secret = { ...newDef(), name: "s", type: "secret" as const, default: "x" };
    expect(parameterOf(secret).default).toBeNull();
  });

  it("read a stored parameter back unchanged", () => {
    const stored = {
      name: "who",
      label: "Who",
      description: null,
      type: "string" as const,
      required: false,
      default: "world",
      min_length: 1,
      max_length: 20,
      pattern: "[a-z]+",
    };
    expect(parameterOf(defOf(stored))).toEqual(stored);
  });

  it("find the placeholders of a command", () => {
    expect(placeholders("echo {{ who }} {{times}} {{ who }} {{ 9x }}")).toEqual(["who", "times"]);
  });
});
