// For the few calls RTK Query does not suit (file downloads): the same bearer token, and the
// same single transparent refresh on a 401.
import { retryWithFreshToken } from "@/lib/session";
import type { AppStore } from "@/lib/store";

export function authorizedFetch(
  store: AppStore,
  url: string,
  init: RequestInit = {},
): Promise<Response> {
  const send = () => {
    const token = store.getState().session.accessToken;
    return fetch(url, {
      ...init,
      credentials: "same-origin",
      headers: { ...(init.headers ?? {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    });
  };
  return retryWithFreshToken(store.dispatch, send, (response) => response.status === 401);
}

/** Saves a response body as a file the browser downloads. */
export async function saveResponse(response: Response, fallbackName: string) {
  const disposition = response.headers.get("content-disposition") ?? "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = name;
  document.body.appendChild(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
