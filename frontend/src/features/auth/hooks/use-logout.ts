import { useCallback } from "react";

import { useLogoutMutation } from "@/client/orca-api";
import { baseApi } from "@/lib/api-base";
import { signedOut } from "@/lib/session";
import { useAppDispatch } from "@/lib/store";

/** Ends the session on the server (its refresh cookie and access tokens), then here. */
export function useLogout() {
  const [logout] = useLogoutMutation();
  const dispatch = useAppDispatch();
  return useCallback(async () => {
    try {
      await logout({ body: null }).unwrap();
    } finally {
      dispatch(signedOut("logged-out"));
      dispatch(baseApi.util.resetApiState());
    }
  }, [logout, dispatch]);
}
