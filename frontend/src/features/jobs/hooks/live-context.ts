import { createContext } from "react";

import type { LiveClient } from "@/lib/live";

export const LiveContext = createContext<LiveClient | null>(null);
