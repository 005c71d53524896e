import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";

import type { ApiProblem } from "@/lib/errors";
import { renderWithApp } from "@/testing/render";
import { ParametersEditor } from "@/features/templates/components/parameters-editor";
import { parameterOf, type ParameterDef } from "@/features/templates/parameter-defs";

let latest: ParameterDef[] = [];

function Harness({ problem = null }: { problem?: ApiProblem | null }) {
  const [value, setValue] = useState<ParameterDef[]>([]);
  latest = value;
  return <ParametersEditor value={value} onChange={setValue} problem={problem} />;
}

describe("ParametersEditor", () => {
  it("shows the constraints of the type chosen", async () => {
    renderWithApp(<Harness />);
    await userEvent.click(screen.getByRole("button", { name: "Add a parameter" }));
    const group = screen.getByRole("group", { name: "Parameter 1" });
    await userEvent.type(within(group).getByRole("textbox", { name: /^Name/ }), "count");
    expect(within(group).getByLabelText("Pattern")).toBeInTheDocument();
    await userEvent.click(within(group).getByRole("combobox", { name: "Type" }));
    await userEvent.click(await screen.findByRole("option", { name: "Integer" }));
    expect(within(group).queryByLabelText("Pattern")).toBeNull();
    await userEvent.type(within(group).getByLabelText("Maximum"), "9");
    await userEvent.type(within(group).getByLabelText("Default"), "3");
    expect(parameterOf(latest[0]!)).toMatchObject({
      name: "count",
      type: "integer",
      default: 3,
      maximum: 9,
    });
    await userEvent.click(within(group).getByRole("switch", { name: "Required" }));
    expect(latest[0]!.required).toBe(false);
    await userEvent.click(screen.getByRole("button", { name: "Remove count" }));
    expect(latest).toEqual([]);
  });

  it("shows the API's problem with a parameter in its box", async () => {
    const problem: ApiProblem = {
      status: 422,
      code: "validation_error",
      message: "Invalid parameters[0]: a choice parameter needs its choices",
      fields: [{ field: "parameters[0]", message: "a choice parameter needs its choices" }],
    };
    renderWithApp(<Harness problem={problem} />);
    await userEvent.click(screen.getByRole("button", { name: "Add a parameter" }));
    const group = screen.getByRole("group", { name: "Parameter 1" });
    expect(within(group).getByText("a choice parameter needs its choices")).toBeInTheDocument();
  });
});
