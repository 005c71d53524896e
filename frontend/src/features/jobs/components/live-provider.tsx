import { useEffect, useState, type ReactNode } from "react";
import { useStore } from "react-redux";

import { orcaApi } from "@/client/orca-api";
import { LiveClient } from "@/lib/live";
import type { AppStore } from "@/lib/store";
import { LiveContext } from "@/features/jobs/hooks/live-context";

/** One live connection for the whole console, opened when a page first watches something. */
export function LiveProvider({ children }: { children: ReactNode }) {
  const store = useStore() as AppStore;
  const [client] = useState(
    () =>
      new LiveClient(async () => {
        const request = store.dispatch(orcaApi.endpoints.createTicket.initiate());
        try {
          return (await request.unwrap()).ticket;
        } catch {
          return null;
        } finally {
          request.reset();
        }
      }),
  );
  useEffect(() => () => client.close(), [client]);
  return <LiveContext.Provider value={client}>{children}</LiveContext.Provider>;
}
