import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { HealthChip, StatusChip } from "@/components/ui/status-chip";
import { renderWithApp } from "@/testing/render";

describe("status chips", () => {
  it("name states in words", () => {
    renderWithApp(
      <>
        <StatusChip status="timed_out" />
        <HealthChip health="host_key_unknown" />
        <HealthChip health="tls_error" />
      </>,
    );
    expect(screen.getByText("timed out").closest("[data-status]")).toHaveAttribute(
      "data-status",
      "timed_out",
    );
    expect(screen.getByText("host key not trusted")).toBeInTheDocument();
    expect(screen.getByText("TLS error")).toBeInTheDocument();
  });
});
