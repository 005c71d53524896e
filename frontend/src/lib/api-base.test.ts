import { afterEach, describe, expect, it, vi } from "vitest";

import { orcaApi } from "@/client/orca-api";
import { serializeParams } from "@/lib/api-base";
import { signedIn } from "@/lib/session";
import { makeStore } from "@/lib/store";

type Call = { url: string; authorization: string | null; requestedWith: string | null };

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** A stand-in server: /auth/me wants the token "fresh"; /auth/refresh answers `refresh`. */
function fakeServer(refresh: () => Response) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request =
      input instanceof Request ? input : new Request(new URL(String(input), location.origin), init);
    const url = new URL(request.url).pathname;
    calls.push({
      url,
      authorization: request.headers.get("Authorization"),
      requestedWith: request.headers.get("X-Requested-With"),
    });
    if (url === "/api/v1/auth/refresh") return refresh();
    if (request.headers.get("Authorization") === "Bearer fresh") {
      return json(200, {
        id: "u1",
        username: "ada",
        role: "operator",
        permissions: [],
        teams: [],
        email: null,
        full_name: null,
        last_login_at: null,
        password_changed_at: null,
      });
    }
    return json(401, { error: { code: "unauthorized", message: "Token expired." } });
  });
  vi.stubGlobal("fetch", fetchMock);
  return calls;
}

afterEach(() => vi.unstubAllGlobals());

describe("the API client", () => {
  it("refreshes an expired access token once, transparently, and retries", async () => {
    const calls = fakeServer(() =>
      json(200, {
        access_token: "fresh",
        refresh_token: null,
        expires_in: 900,
        refresh_expires_at: "2030-01-01T00:00:00Z",
      }),
    );
    const store = makeStore();
    store.dispatch(signedIn("stale"));
    const result = await store.dispatch(orcaApi.endpoints.getMe.initiate());
    expect(result.data?.username).toBe("ada");
    expect(calls.map((call) => call.url)).toEqual([
      "/api/v1/auth/me",
      "/api/v1/auth/refresh",
      "/api/v1/auth/me",
    ]);
    expect(calls[0]?.authorization).toBe("Bearer stale");
    expect(calls[1]?.requestedWith).toBe("orca-console");
    expect(calls[2]?.authorization).toBe("Bearer fresh");
    expect(store.getState().session).toMatchObject({ accessToken: "fresh", status: "signed-in" });
  });

  it("signs out when the refresh is refused, without looping", async () => {
    const calls = fakeServer(() =>
      json(401, {
        error: { code: "unauthorized", message: "Invalid or expired refresh token; log in again." },
      }),
    );
    const store = makeStore();
    store.dispatch(signedIn("stale"));
    const result = await store.dispatch(orcaApi.endpoints.getMe.initiate());
    expect(result.error).toBeDefined();
    expect(calls.map((call) => call.url)).toEqual(["/api/v1/auth/me", "/api/v1/auth/refresh"]);
    expect(store.getState().session).toMatchObject({
      accessToken: null,
      status: "signed-out",
      reason: "expired",
    });
  });

  it("spends the refresh cookie once for many requests that fail together", async () => {
    let refreshes = 0;
    fakeServer(() => {
      refreshes += 1;
      return json(200, {
        access_token: "fresh",
        refresh_token: null,
        expires_in: 900,
        refresh_expires_at: "2030-01-01T00:00:00Z",
      });
    });
    const store = makeStore();
    store.dispatch(signedIn("stale"));
    const results = await Promise.all([
      store.dispatch(orcaApi.endpoints.getMe.initiate(undefined, { forceRefetch: true })),
      store.dispatch(orcaApi.endpoints.listJobs.initiate({ limit: 1 })),
      store.dispatch(orcaApi.endpoints.listSystems.initiate({ limit: 1 })),
    ]);
    expect(results[0].data?.username).toBe("ada");
    expect(refreshes).toBe(1);
  });

  it("does not try to refresh when a login is refused", async () => {
    const calls = fakeServer(() => json(500, {}));
    const store = makeStore();
    const result = await store.dispatch(
      orcaApi.endpoints.login.initiate({ body: { username: "ada", password: "wrong" } }),
    );
    expect("error" in result).toBe(true);
    expect(calls.map((call) => call.url)).toEqual(["/api/v1/auth/login"]);
  });

  it("repeats list parameters the way the API reads them", () => {
    expect(
      serializeParams({
        status: ["running", "pending"],
        q: "",
        limit: 5,
        cursor: null,
        x: undefined,
      }),
    ).toBe("status=running&status=pending&limit=5");
  });
});
