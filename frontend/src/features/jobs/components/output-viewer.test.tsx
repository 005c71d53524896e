import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";

import { OutputViewer, type StreamChoice } from "@/features/jobs/components/output-viewer";
import { OutputBuffer } from "@/features/jobs/output-buffer";
import { renderWithApp } from "@/testing/render";

function filled(): OutputBuffer {
  const buffer = new OutputBuffer();
  buffer.append(1, "stdout", "starting\n\x1b[31mred alert\x1b[0m\n");
  buffer.append(2, "stderr", "warning: disk 91% full\n");
  buffer.append(3, "stdout", "done: alert cleared\n");
  return buffer;
}

function Harness({
  buffer,
  onDownload = () => undefined,
}: {
  buffer: OutputBuffer;
  onDownload?: () => void;
}) {
  const [stream, setStream] = useState<StreamChoice>("combined");
  return (
    <OutputViewer
      buffer={buffer}
      version={buffer.version}
      stream={stream}
      onStream={setStream}
      onDownload={onDownload}
      running={false}
      label="Output of web-1"
    />
  );
}

describe("OutputViewer", () => {
  it("counts lines per stream and switches between them", async () => {
    renderWithApp(<Harness buffer={filled()} />);
    const log = screen.getByRole("log", { name: "Output of web-1" });
    expect(log).toHaveAttribute("data-lines", "4");
    await userEvent.click(screen.getByRole("button", { name: "stderr" }));
    expect(log).toHaveAttribute("data-lines", "1");
    await userEvent.click(screen.getByRole("button", { name: "stdout" }));
    expect(log).toHaveAttribute("data-lines", "3");
  });

  it("finds matches across lines, ignoring colour codes and case", async () => {
    renderWithApp(<Harness buffer={filled()} />);
    await userEvent.type(screen.getByLabelText("Find in output"), "ALERT");
    expect(await screen.findByText("1 of 2")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Next match" }));
    expect(screen.getByText("2 of 2")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Find in output"), "zzz");
    expect(await screen.findByText("no match")).toBeInTheDocument();
  });

  it("says when there is nothing, and offers the download", async () => {
    const download = vi.fn();
    renderWithApp(<Harness buffer={new OutputBuffer()} onDownload={download} />);
    expect(within(screen.getByRole("log")).getByText("No output.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Download" }));
    expect(download).toHaveBeenCalledTimes(1);
  });
});
