import { describe, expect, it } from "vitest";

import type { Parameter } from "@/client/orca-api";
import { hintOf, initialDraft, mustGive, valueProblem, valuesOf } from "@/lib/parameters";

const PARAMETERS: Parameter[] = [
  { name: "who", type: "string", pattern: "[a-z]+", max_length: 8 },
  { name: "times", type: "integer", minimum: 1, maximum: 5, default: 2 },
  { name: "loud", type: "boolean", required: false },
  { name: "colour", type: "choice", choices: ["red", "blue"], required: false, default: "red" },
  { name: "token", type: "secret" },
];

describe("parameters", () => {
  it("start from the values given, else the defaults, and never show a secret", () => {
    expect(initialDraft(PARAMETERS)).toEqual({
      who: "",
      times: "2",
      loud: false,
      colour: "red",
      token: "",
    });
    expect(initialDraft(PARAMETERS, { who: "ann", loud: true, token: "x" })).toMatchObject({
      who: "ann",
      loud: true,
      token: "",
    });
  });

  it("send typed values and leave empty ones to the defaults", () => {
    expect(
      valuesOf(PARAMETERS, { who: "", times: "3", loud: false, colour: "blue", token: "s3" }),
    ).toEqual({ times: 3, loud: false, colour: "blue", token: "s3" });
    // Not a number: sent as typed, for the API to refuse in its own words.
    expect(valuesOf(PARAMETERS, { times: "3.5" })).toEqual({ times: "3.5" });
  });

  it("say what is wrong as the value is typed, as the API would", () => {
    const [who, times, , colour] = PARAMETERS as [Parameter, Parameter, Parameter, Parameter];
    expect(valueProblem(who, "")).toBeNull();
    expect(valueProblem(who, "ann")).toBeNull();
    expect(valueProblem(who, "Ann")).toBe("must match [a-z]+");
    expect(valueProblem(who, "abcdefghi")).toBe("must be at most 8 characters");
    expect(valueProblem(times, "6")).toBe("must be at most 5");
    expect(valueProblem(times, "0")).toBe("must be at least 1");
    expect(valueProblem(times, "two")).toBe("must be an integer");
    expect(valueProblem(colour, "green")).toBe("must be one of red, blue");
    // A pattern only Python reads is left to the API.
    expect(valueProblem({ name: "p", pattern: "(?P<x>a)" }, "b")).toBeNull();
  });

  it("describe their rules", () => {
    const [who, times, loud] = PARAMETERS as [Parameter, Parameter, Parameter];
    expect(hintOf(who)).toBe("at most 8 characters · matching [a-z]+");
    expect(hintOf(times)).toBe("1 to 5 · default 2");
    expect(mustGive(who)).toBe(true);
    expect(mustGive(times)).toBe(false);
    expect(mustGive(loud)).toBe(false);
  });
});
