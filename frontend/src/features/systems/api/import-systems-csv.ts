// The import endpoint also takes CSV; the generated client only speaks JSON.
import { baseApi } from "@/lib/api-base";
import type { ImportResult } from "@/client/orca-api";

const importApi = baseApi.injectEndpoints({
  endpoints: (build) => ({
    importSystemsCsv: build.mutation<ImportResult, string>({
      query: (csv) => ({
        url: "/api/v1/systems/import",
        method: "POST",
        body: csv,
        headers: { "Content-Type": "text/csv" },
      }),
    }),
  }),
});

export const { useImportSystemsCsvMutation } = importApi;
