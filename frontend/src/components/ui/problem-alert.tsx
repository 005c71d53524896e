import Alert from "@mui/material/Alert";
import type { SerializedError } from "@reduxjs/toolkit";
import type { FetchBaseQueryError } from "@reduxjs/toolkit/query";

import { problemOf } from "@/lib/errors";

/** A failed API call, in the API's own words, with each offending field. */
export function ProblemAlert({
  error,
  title,
}: {
  error: FetchBaseQueryError | SerializedError | undefined;
  title?: string;
}) {
  const problem = problemOf(error);
  if (!problem) return null;
  return (
    <Alert severity="error" role="alert" sx={{ mb: 2 }}>
      {title && <strong>{title}: </strong>}
      {problem.message}
      {problem.fields.length > 1 && (
        <ul style={{ margin: "4px 0 0", paddingLeft: 20 }}>
          {problem.fields.map((field) => (
            <li key={`${field.field}:${field.message}`}>
              <code>{field.field}</code>: {field.message}
            </li>
          ))}
        </ul>
      )}
    </Alert>
  );
}
