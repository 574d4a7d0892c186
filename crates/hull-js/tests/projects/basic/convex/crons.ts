import { cronJobs } from "convex/server";
import { internal } from "./_generated/api";

const crons = cronJobs();

crons.interval("count alice", { minutes: 5 }, internal.messages.countByAuthor, {
  author: "alice",
});
crons.daily(
  "nightly count",
  { hourUTC: 3, minuteUTC: 30 },
  internal.messages.countByAuthor,
  { author: "bob" },
);

export default crons;
