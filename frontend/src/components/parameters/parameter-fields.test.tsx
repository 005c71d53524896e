import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";

import type { Parameter } from "@/client/orca-api";
import { ParameterFields } from "@/components/parameters/parameter-fields";
import type { ApiProblem } from "@/lib/errors";
import { initialDraft, valuesOf, type ParameterDraft } from "@/lib/parameters";
import { renderWithApp } from "@/testing/render";

const PARAMETERS: Parameter[] = [
  { name: "who", label: "Who to greet", type: "string", pattern: "[a-z ]+", max_length: 20 },
  { name: "times", type: "integer", minimum: 1, maximum: 5, default: 2 },
  { name: "loud", label: "Shout", type: "boolean", required: false, description: "In capitals" },
  { name: "colour", type: "choice", choices: ["red", "blue"] },
  { name: "token", label: "API token", type: "secret" },
];

function Harness({
  problem = null,
  storedSecrets,
  onValues,
}: {
  problem?: ApiProblem | null;
  storedSecrets?: string[];
  onValues?: (values: ReturnType<typeof valuesOf>) => void;
}) {
  const [value, setValue] = useState<ParameterDraft>(() => initialDraft(PARAMETERS));
  return (
    <ParameterFields
      parameters={PARAMETERS}
      value={value}
      onChange={(next) => {
        setValue(next);
        onValues?.(valuesOf(PARAMETERS, next));
      }}
      problem={problem}
      storedSecrets={storedSecrets}
    />
  );
}

describe("ParameterFields", () => {
  it("gives each type its own input, and sends typed values", async () => {
    const onValues = vi.fn();
    renderWithApp(<Harness onValues={onValues} />);
    const who = screen.getByRole("textbox", { name: /Who to greet/ });
    expect(who).toBeRequired();
    expect(who).toHaveAttribute("maxlength", "20");
    const times = screen.getByRole("spinbutton", { name: "times" });
    expect(times).toHaveValue(2);
    expect(times).toHaveAttribute("min", "1");
    expect(times).toHaveAttribute("max", "5");
    expect(screen.getByRole("switch", { name: "Shout" })).not.toBeChecked();
    expect(screen.getByText("In capitals")).toBeInTheDocument();
    expect(screen.getByRole("combobox", { name: /colour/ })).toBeInTheDocument();
    const token = screen.getByLabelText(/API token/);
    expect(token).toHaveAttribute("type", "password");
    expect(screen.getByText(/reaches the command only as ORCA_PARAM_TOKEN/)).toBeInTheDocument();

    await userEvent.type(who, "ann");
    await userEvent.clear(times);
    await userEvent.type(times, "4");
    await userEvent.click(screen.getByRole("switch", { name: "Shout" }));
    await userEvent.click(screen.getByRole("combobox", { name: /colour/ }));
    await userEvent.click(await screen.findByRole("option", { name: "blue" }));
    await userEvent.type(token, "s3cret");
    expect(onValues).toHaveBeenLastCalledWith({
      who: "ann",
      times: 4,
      loud: true,
      colour: "blue",
      token: "s3cret",
    });
  });

  it("shows a problem as it is typed, and the API's beside its field", async () => {
    const problem: ApiProblem = {
      status: 400,
      code: "bad_request",
      message: "parameters.times: must be at most 5",
      fields: [{ field: "parameters.times", message: "must be at most 5" }],
    };
    renderWithApp(<Harness problem={problem} />);
    expect(screen.getByRole("spinbutton", { name: "times" })).toHaveAccessibleDescription(
      "must be at most 5",
    );
    const who = screen.getByRole("textbox", { name: /Who to greet/ });
    await userEvent.type(who, "Ann");
    expect(who).toHaveAccessibleDescription("must match [a-z ]+");
    expect(who).toHaveAttribute("aria-invalid", "true");
    await userEvent.clear(who);
    await userEvent.type(who, "ann");
    expect(who).toHaveAttribute("aria-invalid", "false");
  });

  it("lets a stored secret stay empty", () => {
    renderWithApp(<Harness storedSecrets={["token"]} />);
    const token = screen.getByLabelText(/API token/);
    expect(token).not.toBeRequired();
    expect(token).toHaveAttribute("placeholder", "stored");
    expect(screen.getByText(/a value is stored \(never shown\)/)).toBeInTheDocument();
  });
});
