// The signed-in session: the access token lives only in memory (this slice); the refresh token
// lives in an httpOnly cookie that scripts cannot read (see docs/security.md). A page load, or
// an access token that expired, spends the cookie once for a new access token.
import { createSlice, type Dispatch, type PayloadAction } from "@reduxjs/toolkit";

export const REFRESH_URL = "/api/v1/auth/refresh";
export const LOGIN_URL = "/api/v1/auth/login";
export const LOGOUT_URL = "/api/v1/auth/logout";

export type SessionState = {
  accessToken: string | null;
  // "unknown" until the first refresh attempt of a page load has answered.
  status: "unknown" | "signed-in" | "signed-out";
  // Why the last session ended, shown on the login page ("expired", "logged-out").
  reason: string | null;
};

const initialState: SessionState = { accessToken: null, status: "unknown", reason: null };

export const sessionSlice = createSlice({
  name: "session",
  initialState,
  reducers: {
    signedIn(state, action: PayloadAction<string>) {
      state.accessToken = action.payload;
      state.status = "signed-in";
      state.reason = null;
    },
    signedOut(state, action: PayloadAction<string | null>) {
      state.accessToken = null;
      state.status = "signed-out";
      state.reason = action.payload;
    },
  },
});

export const { signedIn, signedOut } = sessionSlice.actions;

type TokenBody = { access_token: string };

let inFlight: Promise<string | null> | null = null;

async function spendCookie(fetchFn: typeof fetch): Promise<string | null> {
  const response = await fetchFn(REFRESH_URL, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-Requested-With": "orca-console" },
  });
  if (!response.ok) return null;
  const body = (await response.json()) as TokenBody;
  return body.access_token;
}

/**
 * Spends the refresh cookie for a new access token; null when there is no session. Concurrent
 * callers in this tab share one request, and tabs take turns (Web Locks): each refresh token
 * works once, and two tabs spending the same one would end the session as a suspected theft.
 */
export function refreshAccessToken(fetchFn: typeof fetch = fetch): Promise<string | null> {
  if (inFlight) return inFlight;
  const run = async () => {
    try {
      if (typeof navigator !== "undefined" && navigator.locks) {
        return await navigator.locks.request("orca-refresh", () => spendCookie(fetchFn));
      }
      return await spendCookie(fetchFn);
    } catch {
      return null;
    } finally {
      inFlight = null;
    }
  };
  inFlight = run();
  return inFlight;
}

/**
 * Runs `send`; when `refused` says the access token was turned down, spends the refresh cookie
 * once and runs `send` again (it reads the token afresh), or signs out. The one place that does
 * this, for RTK Query and for plain downloads alike.
 */
export async function retryWithFreshToken<R>(
  dispatch: Dispatch,
  send: () => Promise<R>,
  refused: (result: R) => boolean,
): Promise<R> {
  const first = await send();
  if (!refused(first)) return first;
  const token = await refreshAccessToken();
  if (token === null) {
    dispatch(signedOut("expired"));
    return first;
  }
  dispatch(signedIn(token));
  return send();
}
