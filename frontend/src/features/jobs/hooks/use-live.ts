import { useContext, useEffect, useState } from "react";

import type { ConnectionState, LiveClient } from "@/lib/live";
import { LiveContext } from "@/features/jobs/hooks/live-context";

export function useLiveClient(): LiveClient {
  const client = useContext(LiveContext);
  if (!client) throw new Error("useLiveClient outside <LiveProvider>");
  return client;
}

export function useConnectionState(): ConnectionState {
  const client = useLiveClient();
  const [state, setState] = useState<ConnectionState>("closed");
  useEffect(() => client.onState(setState), [client]);
  return state;
}
