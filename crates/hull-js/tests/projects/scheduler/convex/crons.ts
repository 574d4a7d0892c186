import { cronJobs } from "convex/server";
import { internal } from "./_generated/api";

const crons = cronJobs();

// Fires every second: what the cron tests count.
crons.interval("tick", { seconds: 1 }, internal.jobs.log, { kind: "tick" });
// Every other schedule form, far enough apart that no test sees them fire.
crons.hourly("hourly", { minuteUTC: 17 }, internal.jobs.log, { kind: "hourly" });
crons.daily("daily", { hourUTC: 3, minuteUTC: 30 }, internal.jobs.log, { kind: "daily" });
crons.weekly("weekly", { dayOfWeek: "tuesday", hourUTC: 4, minuteUTC: 5 }, internal.jobs.logAction, { kind: "weekly" });
crons.monthly("monthly", { day: 31, hourUTC: 6, minuteUTC: 0 }, internal.jobs.log, { kind: "monthly" });
crons.cron("new year", "0 0 1 1 *", internal.jobs.log, { kind: "new year" });

export default crons;
