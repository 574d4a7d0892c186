import { v } from "convex/values";
import { action, internalAction, internalMutation, internalQuery, mutation, query } from "./_generated/server";
import { internal } from "./_generated/api";

// ---- what scheduled functions run ----------------------------------------------------

export const log = internalMutation({
  args: { kind: v.string(), n: v.optional(v.number()) },
  handler: async (ctx, { kind, n }) => {
    await ctx.db.insert("events", { kind, n, at: Date.now() });
  },
});

export const logAction = internalAction({
  args: { kind: v.string() },
  handler: async (ctx, { kind }) => {
    await ctx.runMutation(internal.jobs.log, { kind });
    return kind;
  },
});

export const failing = internalMutation({
  args: {},
  handler: async (ctx) => {
    await ctx.db.insert("events", { kind: "never committed", at: Date.now() });
    throw new Error("scheduled boom");
  },
});

export const failingAction = internalAction({
  args: {},
  handler: async () => {
    throw new Error("action boom");
  },
});

// Logs, waits `ms`, logs again: a crash in between leaves it in progress.
export const slowAction = internalAction({
  args: { kind: v.string(), ms: v.number() },
  handler: async (ctx, { kind, ms }) => {
    await ctx.runMutation(internal.jobs.log, { kind: kind + " started" });
    await new Promise((resolve) => setTimeout(resolve, ms));
    await ctx.runMutation(internal.jobs.log, { kind: kind + " finished" });
  },
});

// One link of a chain: logs itself and schedules the next until `remaining` is 0.
export const chain = internalMutation({
  args: { kind: v.string(), remaining: v.number() },
  handler: async (ctx, { kind, remaining }) => {
    await ctx.db.insert("events", { kind, n: remaining, at: Date.now() });
    if (remaining > 0) {
      await ctx.scheduler.runAfter(0, internal.jobs.chain, { kind, remaining: remaining - 1 });
    }
  },
});

// Read-modify-write of one counter: concurrent runs conflict and are re-run.
export const bump = internalMutation({
  args: { name: v.string() },
  handler: async (ctx, { name }) => {
    const counter = await ctx.db
      .query("counters")
      .withIndex("by_name", (q) => q.eq("name", name))
      .unique();
    if (counter === null) {
      await ctx.db.insert("counters", { name, value: 1 });
    } else {
      await ctx.db.patch(counter._id, { value: counter.value + 1 });
    }
  },
});

export const scheduleBumps = mutation({
  args: { name: v.string(), count: v.number() },
  handler: async (ctx, { name, count }) => {
    for (let i = 0; i < count; i++) {
      await ctx.scheduler.runAfter(0, internal.jobs.bump, { name });
    }
  },
});

export const counter = query({
  args: { name: v.string() },
  handler: async (ctx, { name }) =>
    (await ctx.db
      .query("counters")
      .withIndex("by_name", (q) => q.eq("name", name))
      .unique())?.value ?? 0,
});

// Records the job it runs for (`getRequestMetadata().scheduledFunctionId`).
export const whoAmI = internalMutation({
  args: {},
  handler: async (ctx) => {
    const { scheduledFunctionId } = await ctx.meta.getRequestMetadata();
    await ctx.db.insert("events", { kind: "who am i", note: scheduledFunctionId ?? "none", at: Date.now() });
  },
});

// Waits until its own job is canceled, then schedules: what it schedules is canceled too.
export const cancelMeThenSchedule = internalAction({
  args: {},
  handler: async (ctx) => {
    const { scheduledFunctionId } = await ctx.meta.getRequestMetadata();
    await ctx.runMutation(internal.jobs.log, { kind: "waiting", n: 0 });
    for (let i = 0; i < 400; i++) {
      const me = await ctx.runQuery(internal.jobs.jobInternal, { id: scheduledFunctionId! });
      if (me?.state.kind === "canceled") break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const child = await ctx.scheduler.runAfter(0, internal.jobs.log, { kind: "child of canceled" });
    await ctx.runMutation(internal.jobs.log, { kind: "child scheduled", n: 0 });
    return child;
  },
});

export const jobInternal = internalQuery({
  args: { id: v.id("_scheduled_functions") },
  handler: async (ctx, { id }) => await ctx.db.system.get(id),
});

// ---- what clients call ----------------------------------------------------------------

export const scheduleWhoAmI = mutation({
  args: {},
  handler: async (ctx) => await ctx.scheduler.runAfter(0, internal.jobs.whoAmI, {}),
});

export const scheduleCancelMe = mutation({
  args: {},
  handler: async (ctx) => await ctx.scheduler.runAfter(0, internal.jobs.cancelMeThenSchedule, {}),
});

// Scheduling counts against the transaction's metrics.
export const scheduleAndMeasure = mutation({
  args: {},
  handler: async (ctx) => {
    await ctx.scheduler.runAfter(60_000, internal.jobs.log, { kind: "measured" });
    await ctx.scheduler.runAfter(60_000, internal.jobs.log, { kind: "measured" });
    const { functionsScheduled, scheduledFunctionArgsBytes } = await ctx.meta.getTransactionMetrics();
    return { functionsScheduled, scheduledFunctionArgsBytes };
  },
});


export const scheduleAfter = mutation({
  args: { delayMs: v.number(), kind: v.string() },
  handler: async (ctx, { delayMs, kind }) => await ctx.scheduler.runAfter(delayMs, internal.jobs.log, { kind }),
});

export const scheduleAt = mutation({
  args: { at: v.number(), kind: v.string() },
  handler: async (ctx, { at, kind }) => await ctx.scheduler.runAt(at, internal.jobs.log, { kind }),
});

export const scheduleThenThrow = mutation({
  args: { kind: v.string() },
  handler: async (ctx, { kind }) => {
    await ctx.scheduler.runAfter(0, internal.jobs.log, { kind });
    throw new Error("changed my mind");
  },
});

export const scheduleChain = mutation({
  args: { kind: v.string(), length: v.number() },
  handler: async (ctx, { kind, length }) =>
    await ctx.scheduler.runAfter(0, internal.jobs.chain, { kind, remaining: length - 1 }),
});

export const scheduleAction = mutation({
  args: { kind: v.string(), delayMs: v.number() },
  handler: async (ctx, { kind, delayMs }) => await ctx.scheduler.runAfter(delayMs, internal.jobs.logAction, { kind }),
});

export const scheduleSlowAction = mutation({
  args: { kind: v.string(), ms: v.number() },
  handler: async (ctx, { kind, ms }) => await ctx.scheduler.runAfter(0, internal.jobs.slowAction, { kind, ms }),
});

export const scheduleFailing = mutation({
  args: {},
  handler: async (ctx) => [
    await ctx.scheduler.runAfter(0, internal.jobs.failing, {}),
    await ctx.scheduler.runAfter(0, internal.jobs.failingAction, {}),
  ],
});

// `count` jobs due at `at` (ms since the epoch), each logging `kind` with its number.
export const scheduleMany = mutation({
  args: { count: v.number(), at: v.number(), kind: v.string() },
  handler: async (ctx, { count, at, kind }) => {
    for (let n = 0; n < count; n++) {
      await ctx.scheduler.runAt(at, internal.jobs.log, { kind, n });
    }
  },
});

export const scheduleBigArgs = mutation({
  args: { bytes: v.number(), count: v.number() },
  handler: async (ctx, { bytes, count }) => {
    const kind = "x".repeat(bytes);
    for (let n = 0; n < count; n++) {
      await ctx.scheduler.runAfter(60_000, internal.jobs.log, { kind });
    }
  },
});

export const scheduleQuery = mutation({
  args: {},
  handler: async (ctx) => await ctx.scheduler.runAfter(0, internal.jobs.jobs as any, {}),
});

export const scheduleBadArgs = mutation({
  args: {},
  handler: async (ctx) => await ctx.scheduler.runAfter(0, internal.jobs.log, { kind: 42 } as any),
});

// System documents are read-only to user code: each write is refused and the job unchanged.
export const tamper = mutation({
  args: { id: v.id("_scheduled_functions") },
  handler: async (ctx, { id }) => {
    const errors: string[] = [];
    const attempt = async (f: () => Promise<unknown>) => {
      try {
        await f();
        errors.push("ok");
      } catch (e: any) {
        errors.push(e.message);
      }
    };
    await attempt(() => ctx.db.patch(id as any, { state: { kind: "success" } } as any));
    await attempt(() => ctx.db.replace(id as any, {} as any));
    await attempt(() => ctx.db.delete(id as any));
    return errors;
  },
});

export const cancel = mutation({
  args: { id: v.id("_scheduled_functions") },
  handler: async (ctx, { id }) => {
    await ctx.scheduler.cancel(id);
  },
});

export const scheduleFromAction = action({
  args: { kind: v.string(), delayMs: v.number() },
  handler: async (ctx, { kind, delayMs }) => await ctx.scheduler.runAfter(delayMs, internal.jobs.log, { kind }),
});

export const cancelFromAction = action({
  args: { id: v.id("_scheduled_functions") },
  handler: async (ctx, { id }) => {
    await ctx.scheduler.cancel(id);
  },
});

// ---- what tests read --------------------------------------------------------------------

export const job = query({
  args: { id: v.id("_scheduled_functions") },
  handler: async (ctx, { id }) => await ctx.db.system.get(id),
});

export const jobs = query({
  args: {},
  handler: async (ctx) => await ctx.db.system.query("_scheduled_functions").collect(),
});

export const events = query({
  args: { kind: v.string() },
  handler: async (ctx, { kind }) =>
    await ctx.db
      .query("events")
      .withIndex("by_kind", (q) => q.eq("kind", kind))
      .collect(),
});

// The registered crons, as tools read them.
export const crons = query({
  args: {},
  handler: async (ctx) =>
    (await ctx.db.system.query("_cron_jobs" as any).collect()).map((cron: any) => ({
      name: cron.name,
      udfPath: cron.cronSpec.udfPath,
      schedule: cron.cronSpec.cronSchedule,
      nextTs: cron.nextTs,
      prevTs: cron.prevTs,
    })),
});
