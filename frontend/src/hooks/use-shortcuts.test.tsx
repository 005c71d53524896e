import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { useShortcuts } from "@/hooks/use-shortcuts";

function Harness({ jobs, search }: { jobs: () => void; search: () => void }) {
  useShortcuts([
    { keys: "g j", description: "jobs", run: jobs },
    { keys: "/", description: "search", run: search },
  ]);
  return <input aria-label="field" />;
}

describe("useShortcuts", () => {
  it("runs two-key sequences and single keys", async () => {
    const jobs = vi.fn();
    const search = vi.fn();
    render(<Harness jobs={jobs} search={search} />);
    await userEvent.keyboard("gj");
    expect(jobs).toHaveBeenCalledTimes(1);
    await userEvent.keyboard("/");
    expect(search).toHaveBeenCalledTimes(1);
    await userEvent.keyboard("xj");
    expect(jobs).toHaveBeenCalledTimes(1);
  });

  it("ignores keys typed into a field", async () => {
    const jobs = vi.fn();
    render(<Harness jobs={jobs} search={vi.fn()} />);
    await userEvent.type(screen.getByLabelText("field"), "gj/");
    expect(jobs).not.toHaveBeenCalled();
    expect(screen.getByLabelText("field")).toHaveValue("gj/");
  });
});
