// The one RTK Query API every generated endpoint is injected into, and the one place that
// handles authentication: the access token on every request, and on a 401 one transparent
// refresh (spending the httpOnly cookie) and one retry, or the sign-in page.
import {
  createApi,
  fetchBaseQuery,
  type BaseQueryFn,
  type FetchArgs,
  type FetchBaseQueryError,
} from "@reduxjs/toolkit/query/react";

import { retryWithFreshToken, type SessionState } from "@/lib/session";

/** Query strings as the API reads them: a list repeats its name (`status=a&status=b`), and
 * an absent value (undefined, null, "") is left out. */
export function serializeParams(params: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === undefined || item === null || item === "") continue;
      search.append(name, String(item));
    }
  }
  return search.toString();
}

const rawBaseQuery = fetchBaseQuery({
  // The page's own origin: the API serves the console (or `npm run dev` proxies to it).
  baseUrl: globalThis.location?.origin ?? "",
  credentials: "same-origin",
  paramsSerializer: serializeParams,
  prepareHeaders: (headers, { getState }) => {
    const token = (getState() as { session: SessionState }).session.accessToken;
    if (token && !headers.has("Authorization")) headers.set("Authorization", `Bearer ${token}`);
    return headers;
  },
});

// Where a 401 means "wrong password" or "no session", not "token expired".
const NO_RETRY = ["/api/v1/auth/login", "/api/v1/auth/refresh"];

function urlOf(args: string | FetchArgs): string {
  return typeof args === "string" ? args : args.url;
}

export const baseQuery: BaseQueryFn<string | FetchArgs, unknown, FetchBaseQueryError> = (
  args,
  api,
  extraOptions,
) => {
  const send = async () => rawBaseQuery(args, api, extraOptions);
  if (NO_RETRY.some((url) => urlOf(args).startsWith(url))) return send();
  return retryWithFreshToken(api.dispatch, send, (result) => result.error?.status === 401);
};

export const baseApi = createApi({
  reducerPath: "api",
  baseQuery,
  endpoints: () => ({}),
  refetchOnReconnect: true,
});
