// The script editor: CodeMirror with line numbers and shell or PowerShell highlighting. Loaded
// only when a script is edited, so the rest of the console stays light.
import { StreamLanguage } from "@codemirror/language";
import { powerShell } from "@codemirror/legacy-modes/mode/powershell";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { useTheme } from "@mui/material/styles";
import CodeMirror, { EditorView } from "@uiw/react-codemirror";
import { useMemo } from "react";

import { MONO } from "@/lib/theme";

export default function ScriptEditor({
  value,
  onChange,
  language,
  label,
}: {
  value: string;
  onChange: (value: string) => void;
  language: "shell" | "powershell";
  label: string;
}) {
  const theme = useTheme();
  const extensions = useMemo(
    () => [
      StreamLanguage.define(language === "powershell" ? powerShell : shell),
      EditorView.contentAttributes.of({ "aria-label": label }),
      EditorView.theme({
        "&": { fontSize: "13px" },
        ".cm-content, .cm-gutters": { fontFamily: MONO },
      }),
    ],
    [language, label],
  );
  return (
    <CodeMirror
      value={value}
      onChange={onChange}
      extensions={extensions}
      theme={theme.palette.mode}
      minHeight="220px"
      maxHeight="520px"
      basicSetup={{
        lineNumbers: true,
        foldGutter: false,
        highlightActiveLine: true,
        autocompletion: false,
      }}
    />
  );
}
