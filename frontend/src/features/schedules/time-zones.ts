// The IANA time zones this browser knows, for a schedule's time zone picker.

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

let cached: string[] | undefined;

/** Every zone the browser knows, UTC first (some browsers leave it out of the list). */
export function timeZones(): string[] {
  if (!cached) {
    const known =
      typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    cached = ["UTC", ...known.filter((zone) => zone !== "UTC")];
  }
  return cached;
}

export const MISSED_POLICIES = {
  skip: {
    label: "Skip",
    help: "A due time missed by more than the grace period (no worker was running) is recorded as missed; nothing runs for it.",
  },
  run_once: {
    label: "Run once",
    help: "Missed due times are recorded as missed, and the latest runs once as soon as a worker is back.",
  },
} as const;

export const CRON_PRESETS = [
  { cron: "*/15 * * * *", label: "every 15 minutes" },
  { cron: "@hourly", label: "hourly" },
  { cron: "0 3 * * *", label: "daily at 03:00" },
  { cron: "0 6 * * 1-5", label: "weekdays at 06:00" },
  { cron: "0 2 * * 0", label: "Sundays at 02:00" },
  { cron: "0 4 1 * *", label: "monthly, the 1st at 04:00" },
];
