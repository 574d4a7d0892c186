//! Cron jobs: the specs `convex/crons.ts` exports, registered at push in the `_cron_jobs`
//! system table, and when each one runs next.
//!
//! Every schedule form is computed in UTC by one small cron-expression engine: `hourly`,
//! `daily`, `weekly` and `monthly` are the expressions `m * * * *`, `m h * * *`, `m h * * d`
//! and `m h d * *`; `interval` first runs at deploy, then counts from the previous due time. A
//! cron *run* does not execute the function itself: the scheduler loop inserts a scheduled job
//! for it and advances the cron's `nextTs` in **one** transaction ([`enqueue_due`]), so the job runs through the
//! scheduler's exactly-once (mutation) / at-most-once (action) protocol, and a restart can
//! neither lose nor repeat a run. Runs the loop missed while Hull was down are skipped: one run
//! happens, then the schedule continues from now, as upstream's "skipping past scheduled runs".
//! A run starts only after the previous run of the same cron finished, so runs never overlap.

use std::collections::BTreeMap;

use hull_db::{Document, Query, QueryStream, Transaction};
use hull_errors::{Error, Result};
use hull_js::scheduler as jobs;
use hull_values::{DocumentId, Object, Value};

/// The system table of registered crons, one document per cron (upstream's name and fields:
/// `{name, cronSpec: {udfPath, udfArgs, cronSchedule}, state, prevTs, nextTs}`, timestamps in
/// ns), plus Hull's `lastJobId`: the scheduled job of the latest run.
pub const CRON_JOBS_TABLE: &str = "_cron_jobs";

/// The index the scheduler loop reads due crons from.
pub const BY_NEXT_TS: &str = "by_next_ts";

const MS_PER_MINUTE: i64 = 60_000;
const MS_PER_DAY: i64 = 86_400_000;
const NS_PER_MS: i64 = 1_000_000;

/// How far ahead the next occurrence of a cron expression is searched, in days: nine years
/// cover every satisfiable expression, even "29 February" across a non-leap century year.
const CRON_SEARCH_DAYS: i64 = 9 * 366;

/// A cron's schedule, as `crons.export()` describes it.
#[derive(Clone, Debug, PartialEq)]
pub enum CronSchedule {
    /// Every `seconds`.
    Interval {
        /// The period.
        seconds: i64,
    },
    /// A cron expression (five fields, UTC), also what every calendar form compiles to.
    Cron {
        /// The text stored (the expression, or the calendar form as JSON).
        source: Value,
        /// The compiled expression.
        expr: CronExpr,
    },
}

/// One cron of a push: what it runs and when.
#[derive(Clone, Debug, PartialEq)]
pub struct CronSpec {
    /// The function's runtime path, `dir/module:export`.
    pub udf_path: String,
    /// The arguments object.
    pub args: Value,
    /// When.
    pub schedule: CronSchedule,
}

/// Which crons a push adds, changes and removes, by name (the CLI's `cronDiff`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CronDiff {
    /// New names.
    pub added: Vec<String>,
    /// Names whose function, arguments or schedule changed.
    pub updated: Vec<String>,
    /// Names no longer defined.
    pub deleted: Vec<String>,
}

fn invalid(name: &str, message: impl std::fmt::Display) -> Error {
    Error::bad_request("InvalidCronSpec", format!("Hit an error while pushing:\nInvalid cron job \"{name}\": {message}"))
}

/// Parses the crons of a push: the `crons.export()` JSON of the module `crons.js`
/// (`{"<name>": {name: "module:fn", args: [object], schedule}}`), validated as upstream does.
pub fn parse_specs(exported: &serde_json::Value) -> Result<BTreeMap<String, CronSpec>> {
    let Some(crons) = exported.as_object() else {
        return Err(invalid("", "crons.export() did not return an object"));
    };
    let mut specs = BTreeMap::new();
    for (name, cron) in crons {
        if let Some(c) = name.chars().find(|c| !c.is_ascii() || c.is_ascii_control()) {
            return Err(invalid(
                name,
                format!("has invalid character {c:?}: cron identifiers can only contain ASCII characters that are not control characters"),
            ));
        }
        let function = cron.get("name").and_then(|n| n.as_str()).ok_or_else(|| invalid(name, "no function name"))?;
        let args = match cron.get("args").and_then(|a| a.as_array()).map(Vec::as_slice) {
            Some([]) | None => Value::Object(Object::new()),
            Some([object @ serde_json::Value::Object(_)]) => Value::from_json(object).map_err(|e| invalid(name, e.message))?,
            Some(_) => return Err(invalid(name, "args must be one object")),
        };
        let schedule = parse_schedule(name, cron.get("schedule").unwrap_or(&serde_json::Value::Null))?;
        let (module, export) = function.split_once(':').unwrap_or((function, "default"));
        let udf_path = format!("{}:{export}", module.strip_suffix(".js").unwrap_or(module));
        specs.insert(name.clone(), CronSpec { udf_path, args, schedule });
    }
    Ok(specs)
}

fn parse_schedule(name: &str, schedule: &serde_json::Value) -> Result<CronSchedule> {
    let int = |field: &str| -> Result<Option<i64>> {
        match schedule.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| Some(f as i64))
                .ok_or_else(|| invalid(name, format!("{field} must be an integer"))),
        }
    };
    let ranged = |field: &str, range: std::ops::RangeInclusive<i64>, default: Option<i64>| -> Result<i64> {
        let value = int(field)?.or(default).ok_or_else(|| invalid(name, format!("{field} is missing")))?;
        if !range.contains(&value) {
            return Err(invalid(name, format!("{field} must be {}-{}", range.start(), range.end())));
        }
        Ok(value)
    };
    // `minuteUTC` is optional for the calendar forms: the backend picks one per cron, stable
    // across deploys (derived from the name), which spreads crons over the hour.
    let spread_minute = Some(name.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32)) as i64 % 60);
    let calendar = |expression: String| -> Result<CronSchedule> {
        let expr = CronExpr::parse(&expression).map_err(|e| invalid(name, e))?;
        let source = Value::from_json(schedule).map_err(|e| invalid(name, e.message))?;
        Ok(CronSchedule::Cron { source, expr })
    };
    match schedule.get("type").and_then(|t| t.as_str()) {
        Some("interval") => {
            let (seconds, minutes, hours) = (int("seconds")?, int("minutes")?, int("hours")?);
            if [seconds, minutes, hours].iter().filter(|v| v.is_some()).count() != 1 {
                return Err(invalid(name, "Exactly one of (seconds, minutes, hours) should be specified"));
            }
            let total = seconds.unwrap_or(0) + minutes.unwrap_or(0) * 60 + hours.unwrap_or(0) * 3600;
            if total <= 0 {
                return Err(invalid(name, "Interval must be an integer greater than 0"));
            }
            Ok(CronSchedule::Interval { seconds: total })
        }
        Some("hourly") => calendar(format!("{} * * * *", ranged("minuteUTC", 0..=59, spread_minute)?)),
        Some("daily") => {
            let (minute, hour) = (ranged("minuteUTC", 0..=59, spread_minute)?, ranged("hourUTC", 0..=23, None)?);
            calendar(format!("{minute} {hour} * * *"))
        }
        Some("weekly") => {
            let (minute, hour) = (ranged("minuteUTC", 0..=59, spread_minute)?, ranged("hourUTC", 0..=23, None)?);
            let day = schedule.get("dayOfWeek").and_then(|d| d.as_str()).unwrap_or_default();
            let day = FULL_DAY_NAMES.iter().position(|d| d.eq_ignore_ascii_case(day));
            let day = day.ok_or_else(|| invalid(name, "dayOfWeek must be a day like \"monday\""))?;
            calendar(format!("{minute} {hour} * * {day}"))
        }
        Some("monthly") => {
            let (minute, hour) = (ranged("minuteUTC", 0..=59, spread_minute)?, ranged("hourUTC", 0..=23, None)?);
            let day = ranged("day", 1..=31, None)?;
            calendar(format!("{minute} {hour} {day} * *"))
        }
        Some("cron") => {
            let text = schedule.get("cron").and_then(|c| c.as_str()).ok_or_else(|| invalid(name, "cron must be a string"))?;
            let expr = CronExpr::parse(text).map_err(|e| invalid(name, e))?;
            Ok(CronSchedule::Cron { source: Value::String(text.to_owned()), expr })
        }
        other => Err(invalid(name, format!("unknown schedule type {other:?}"))),
    }
}

const FULL_DAY_NAMES: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MONTH_NAMES: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// A five-field cron expression (`minute hour day-of-month month day-of-week`, UTC): `*`,
/// numbers, names (`jan`, `mon`), ranges `a-b`, steps `*/n` and `a-b/n`, lists. As in Vixie
/// cron, when both day fields are restricted a day matching either one fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronExpr {
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    day_of_month_any: bool,
    day_of_week_any: bool,
}

impl CronExpr {
    /// Parses `text`; the error says which field is wrong.
    pub fn parse(text: &str) -> std::result::Result<CronExpr, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "the cron expression \"{text}\" must have 5 fields (minute hour day-of-month month day-of-week), it has {}",
                fields.len()
            ));
        }
        let field = |i: usize, what: &str, min: u32, max: u32, names: &[&str]| {
            parse_field(fields[i], min, max, names).map_err(|e| format!("invalid {what} field \"{}\" in \"{text}\": {e}", fields[i]))
        };
        let minutes = field(0, "minute", 0, 59, &[])?;
        let hours = field(1, "hour", 0, 23, &[])?;
        let days_of_month = field(2, "day-of-month", 1, 31, &[])?;
        let months = field(3, "month", 1, 12, &MONTH_NAMES)?;
        // 7 is Sunday too.
        let dow = field(4, "day-of-week", 0, 7, &DAY_NAMES)?;
        let days_of_week = ((dow & 0x7F) | (dow >> 7)) as u8;
        let expr = CronExpr {
            minutes,
            hours: hours as u32,
            days_of_month: days_of_month as u32,
            months: months as u16,
            days_of_week,
            day_of_month_any: fields[2] == "*" || fields[2] == "?",
            day_of_week_any: fields[4] == "*" || fields[4] == "?",
        };
        if expr.next_after(0).is_none() {
            return Err(format!("the cron expression \"{text}\" never fires"));
        }
        Ok(expr)
    }

    fn day_matches(&self, day_of_month: u32, day_of_week: u32) -> bool {
        let dom = self.days_of_month & (1 << day_of_month) != 0;
        let dow = self.days_of_week & (1 << day_of_week) != 0;
        match (self.day_of_month_any, self.day_of_week_any) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// The first minute strictly after `after_ms` (ms since the epoch) the expression matches.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start = after_ms.div_euclid(MS_PER_MINUTE) * MS_PER_MINUTE + MS_PER_MINUTE;
        let first_day = start.div_euclid(MS_PER_DAY);
        let mut first_minute = start.rem_euclid(MS_PER_DAY) / MS_PER_MINUTE;
        for day in first_day..first_day + CRON_SEARCH_DAYS {
            let (_, month, day_of_month) = civil_from_days(day);
            // 1970-01-01 was a Thursday (4).
            let day_of_week = (day + 4).rem_euclid(7) as u32;
            if self.months & (1 << month) != 0 && self.day_matches(day_of_month, day_of_week) {
                for minute in first_minute..24 * 60 {
                    if self.hours & (1 << (minute / 60)) != 0 && self.minutes & (1 << (minute % 60)) != 0 {
                        return Some(day * MS_PER_DAY + minute * MS_PER_MINUTE);
                    }
                }
            }
            first_minute = 0;
        }
        None
    }
}

/// One field as a bit set of the values it allows.
fn parse_field(field: &str, min: u32, max: u32, names: &[&str]) -> std::result::Result<u64, String> {
    let number = |s: &str| -> std::result::Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            // Month names count from 1, day names from 0: from the field's minimum.
            return Ok(i as u32 + min);
        }
        let n: u32 = s.parse().map_err(|_| format!("\"{s}\" is not a number"))?;
        if n < min || n > max {
            return Err(format!("{n} is out of range {min}-{max}"));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let parsed = step.parse::<u32>().ok().filter(|s| (1..=max.max(1)).contains(s));
                (range, parsed.ok_or_else(|| format!("invalid step \"{step}\" (1-{})", max.max(1)))?)
            }
            None => (part, 1),
        };
        let (low, high) = match range {
            "*" | "?" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                // `a/n` means from a to the end.
                None if step > 1 => (number(range)?, max),
                None => (number(range)?, number(range)?),
            },
        };
        if low > high {
            return Err(format!("the range {low}-{high} is empty"));
        }
        let mut value = low;
        while value <= high {
            bits |= 1 << value;
            value = match value.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
    }
    Ok(bits)
}

/// `(year, month 1-12, day 1-31)` of a day count since 1970-01-01 (the proleptic Gregorian
/// calendar; Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl CronSchedule {
    /// The first due time after a run that was due at `previous_ms`, skipping every occurrence
    /// that is already past: runs missed while Hull was down or busy happen once, not once per
    /// missed occurrence. For a new (or changed) cron, `previous_ms` is `None`: an interval
    /// runs at once (as upstream's), a calendar form at its next occurrence after `now_ms`.
    pub fn next_run(&self, previous_ms: Option<i64>, now_ms: i64) -> Option<i64> {
        match self {
            CronSchedule::Interval { seconds } => {
                // Validated positive at push; a stored spec is not trusted to be.
                let period = seconds.checked_mul(1000).filter(|p| *p > 0)?;
                let Some(previous) = previous_ms else { return Some(now_ms) };
                let next = previous.checked_add(period)?;
                if next > now_ms {
                    return Some(next);
                }
                let missed = (now_ms - next) / period + 1;
                next.checked_add(missed.checked_mul(period)?)
            }
            CronSchedule::Cron { expr, .. } => expr.next_after(previous_ms.unwrap_or(now_ms).max(now_ms)),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            CronSchedule::Interval { seconds } => Value::Object(Object::from([
                ("type".to_owned(), Value::String("interval".to_owned())),
                ("seconds".to_owned(), Value::Int64(*seconds)),
            ])),
            CronSchedule::Cron { source: Value::String(text), .. } => Value::Object(Object::from([
                ("type".to_owned(), Value::String("cron".to_owned())),
                ("cronExpr".to_owned(), Value::String(text.clone())),
            ])),
            CronSchedule::Cron { source, .. } => source.clone(),
        }
    }
}

impl CronSpec {
    fn to_value(&self) -> Value {
        let args_json = serde_json::Value::Array(vec![self.args.to_json()]).to_string();
        Value::Object(Object::from([
            ("udfPath".to_owned(), Value::String(jobs::job_name(&self.udf_path))),
            // Upstream stores the arguments as JSON bytes: their field names need not be valid
            // top-level document field names.
            ("udfArgs".to_owned(), Value::Bytes(args_json.into_bytes())),
            ("cronSchedule".to_owned(), self.schedule.to_value()),
        ]))
    }
}

/// A stored cron.
#[derive(Clone, Debug)]
struct StoredCron {
    document: Document,
    name: String,
    spec: Value,
    next_ts_ns: i64,
    last_job: Option<DocumentId>,
}

impl StoredCron {
    fn from_document(document: Document) -> Result<StoredCron> {
        let object = document.object();
        let corrupt = || Error::internal("CorruptCronJobs", format!("the {CRON_JOBS_TABLE} document {} is malformed", document.id()));
        let name = object.get("name").and_then(Value::as_str).ok_or_else(corrupt)?.to_owned();
        let spec = object.get("cronSpec").cloned().ok_or_else(corrupt)?;
        let Some(Value::Int64(next_ts_ns)) = object.get("nextTs") else { return Err(corrupt()) };
        let last_job = object.get("lastJobId").and_then(Value::as_str).and_then(|id| DocumentId::decode(id).ok());
        Ok(StoredCron { next_ts_ns: *next_ts_ns, document, name, spec, last_job })
    }
}

fn cron_object(name: &str, spec: &CronSpec, prev_ts_ns: Option<i64>, next_ms: i64, last_job: Option<DocumentId>) -> Object {
    Object::from([
        ("name".to_owned(), Value::String(name.to_owned())),
        ("cronSpec".to_owned(), spec.to_value()),
        ("state".to_owned(), Value::Object(Object::from([("type".to_owned(), Value::String("pending".to_owned()))]))),
        ("prevTs".to_owned(), prev_ts_ns.map_or(Value::Null, Value::Int64)),
        ("nextTs".to_owned(), Value::Int64(next_ms.saturating_mul(NS_PER_MS))),
        ("lastJobId".to_owned(), last_job.map_or(Value::Null, |id| Value::String(id.encode()))),
    ])
}

/// Creates [`CRON_JOBS_TABLE`] and its index when they do not exist yet.
pub(crate) fn ensure_table(tx: &mut Transaction) -> Result<()> {
    let table = tx.catalog().table_by_name(CRON_JOBS_TABLE).map(|t| t.number);
    if table.is_none_or(|number| tx.catalog().index_by_name(number, BY_NEXT_TS).is_none()) {
        tx.create_index(CRON_JOBS_TABLE, BY_NEXT_TS, &["nextTs".to_owned()])?;
    }
    Ok(())
}

fn read_all(tx: &mut Transaction) -> Result<BTreeMap<String, StoredCron>> {
    let Some(table) = tx.catalog().table_by_name(CRON_JOBS_TABLE).map(|t| t.number) else { return Ok(BTreeMap::new()) };
    let mut stream = QueryStream::full_table(tx, table, hull_store::Order::Asc)?;
    let mut crons = BTreeMap::new();
    while let Some(document) = stream.next(tx)? {
        let cron = StoredCron::from_document(document)?;
        crons.insert(cron.name.clone(), cron);
    }
    Ok(crons)
}

/// What a push's crons would change against the stored ones.
pub(crate) fn diff(tx: &mut Transaction, specs: &BTreeMap<String, CronSpec>) -> Result<CronDiff> {
    let stored = read_all(tx)?;
    let mut diff = CronDiff::default();
    for (name, spec) in specs {
        match stored.get(name) {
            None => diff.added.push(name.clone()),
            Some(cron) if cron.spec != spec.to_value() => diff.updated.push(name.clone()),
            Some(_) => {}
        }
    }
    diff.deleted = stored.keys().filter(|name| !specs.contains_key(*name)).cloned().collect();
    Ok(diff)
}

/// Makes `specs` the registered crons in `tx` (the deploy transaction): new crons get their
/// first due time after `now_ms`, changed ones are rescheduled from now, unchanged ones keep
/// theirs (a redeploy neither repeats nor skips a run), removed ones are deleted.
pub(crate) fn apply(tx: &mut Transaction, specs: &BTreeMap<String, CronSpec>, now_ms: i64) -> Result<CronDiff> {
    ensure_table(tx)?;
    let mut stored = read_all(tx)?;
    let diff = diff(tx, specs)?;
    for (name, spec) in specs {
        let existing = stored.remove(name);
        if existing.as_ref().is_some_and(|cron| cron.spec == spec.to_value()) {
            continue;
        }
        let next = spec.schedule.next_run(None, now_ms).ok_or_else(|| invalid(name, "its schedule never fires"))?;
        match existing {
            Some(cron) => {
                // Keep the link to a run still in flight, so the new schedule does not overlap it.
                tx.replace(cron.document.id(), cron_object(name, spec, None, next, cron.last_job))?;
            }
            None => {
                tx.insert_system_table(CRON_JOBS_TABLE, cron_object(name, spec, None, next, None))?;
            }
        }
    }
    for cron in stored.into_values() {
        tx.delete(cron.document.id())?;
    }
    Ok(diff)
}

/// Schedules the runs of every cron due by `now_ms`, in `tx`: for each, a scheduled job due at
/// the cron's due time, and the cron advanced to its next due time. A cron whose previous run
/// has not finished waits (the loop wakes when that job's state changes). Returns the earliest
/// due time left (ms), for the loop's timer; it reads only the due part of the index and the
/// first cron after it, so a cron made due earlier by a deploy wakes the loop.
pub(crate) fn enqueue_due(tx: &mut Transaction, now_ms: i64) -> Result<Option<i64>> {
    if tx.catalog().table_by_name(CRON_JOBS_TABLE).is_none() {
        return Ok(None);
    }
    let query = Query::from_json(&serde_json::json!({
        "source": {"type": "IndexRange", "indexName": format!("{CRON_JOBS_TABLE}.{BY_NEXT_TS}"), "range": [], "order": "asc"},
        "operators": [],
    }))?;
    let mut stream = QueryStream::open(tx, query)?;
    let mut due = Vec::new();
    let mut next_wake = None;
    while let Some(document) = stream.next(tx)? {
        let cron = StoredCron::from_document(document)?;
        let due_ms = cron.next_ts_ns / NS_PER_MS;
        if due_ms > now_ms {
            next_wake = Some(due_ms);
            break;
        }
        due.push(cron);
    }
    for cron in due {
        let Some(spec) = spec_from_value(&cron.name, &cron.spec) else {
            return Err(Error::internal("CorruptCronJobs", format!("the cron {} has a malformed spec", cron.name)));
        };
        if let Some(last) = cron.last_job
            && let Some(job) = jobs::read_job(tx, last)?
            && !job.state.is_terminal()
        {
            continue;
        }
        let due_ms = cron.next_ts_ns / NS_PER_MS;
        let job = jobs::insert_job(tx, &spec.udf_path, spec.args.clone(), due_ms as f64)?;
        let next = spec.schedule.next_run(Some(due_ms), now_ms).unwrap_or(i64::MAX / NS_PER_MS);
        tx.replace(cron.document.id(), cron_object(&cron.name, &spec, Some(cron.next_ts_ns), next, Some(job)))?;
        next_wake = Some(next_wake.map_or(next, |wake: i64| wake.min(next)));
    }
    Ok(next_wake)
}

/// Rebuilds a spec from its stored form.
fn spec_from_value(name: &str, value: &Value) -> Option<CronSpec> {
    let Value::Object(object) = value else { return None };
    let function = object.get("udfPath")?.as_str()?;
    let udf_path = match function.split_once(':') {
        Some((module, export)) => format!("{}:{export}", module.strip_suffix(".js").unwrap_or(module)),
        None => function.to_owned(),
    };
    let Value::Bytes(args) = object.get("udfArgs")? else { return None };
    let args: serde_json::Value = serde_json::from_slice(args).ok()?;
    let args = Value::from_json(args.as_array()?.first()?).ok()?;
    let Value::Object(schedule) = object.get("cronSchedule")? else { return None };
    let schedule = match schedule.get("type")?.as_str()? {
        "interval" => match schedule.get("seconds")? {
            Value::Int64(seconds) => CronSchedule::Interval { seconds: *seconds },
            _ => return None,
        },
        "cron" => {
            let text = schedule.get("cronExpr")?.as_str()?;
            CronSchedule::Cron { source: Value::String(text.to_owned()), expr: CronExpr::parse(text).ok()? }
        }
        // The calendar forms are stored as pushed; the name picks the same spread minute.
        _ => parse_schedule(name, &Value::Object(schedule.clone()).to_json()).ok()?,
    };
    Some(CronSpec { udf_path, args, schedule })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ms since the epoch of a UTC date and time.
    fn at(year: i64, month: i64, day: i64, hour: i64, minute: i64) -> i64 {
        // Inverse of civil_from_days, by search from a nearby guess (tests only).
        let mut days = (year - 1970) * 365 + (year - 1969) / 4 - 40;
        while civil_from_days(days) != (year, month as u32, day as u32) {
            days += 1;
        }
        days * MS_PER_DAY + hour * 3_600_000 + minute * MS_PER_MINUTE
    }

    fn schedule(json: serde_json::Value) -> CronSchedule {
        parse_schedule("test", &json).unwrap()
    }

    #[test]
    fn calendar_forms_fire_at_the_next_matching_utc_minute() {
        let now = at(2026, 11, 27, 14, 30); // a Friday
        let hourly = schedule(serde_json::json!({"type": "hourly", "minuteUTC": 15}));
        assert_eq!(hourly.next_run(None, now), Some(at(2026, 11, 27, 15, 15)));
        let daily = schedule(serde_json::json!({"type": "daily", "hourUTC": 3, "minuteUTC": 30}));
        assert_eq!(daily.next_run(None, now), Some(at(2026, 11, 28, 3, 30)));
        let weekly = schedule(serde_json::json!({"type": "weekly", "dayOfWeek": "tuesday", "hourUTC": 4, "minuteUTC": 5}));
        assert_eq!(weekly.next_run(None, now), Some(at(2026, 12, 1, 4, 5)));
        // Day 31 skips the months without one.
        let monthly = schedule(serde_json::json!({"type": "monthly", "day": 31, "hourUTC": 6, "minuteUTC": 0}));
        assert_eq!(monthly.next_run(None, now), Some(at(2026, 12, 31, 6, 0)));
        assert_eq!(monthly.next_run(Some(at(2026, 12, 31, 6, 0)), at(2026, 12, 31, 6, 0)), Some(at(2027, 1, 31, 6, 0)));
        assert_eq!(monthly.next_run(Some(at(2027, 1, 31, 6, 0)), at(2027, 1, 31, 6, 0)), Some(at(2027, 3, 31, 6, 0)));
    }

    #[test]
    fn cron_expressions_follow_vixie_cron() {
        let now = at(2026, 11, 27, 14, 30);
        let next = |text: &str| CronExpr::parse(text).unwrap().next_after(now);
        assert_eq!(next("* * * * *"), Some(at(2026, 11, 27, 14, 31)));
        assert_eq!(next("*/15 * * * *"), Some(at(2026, 11, 27, 14, 45)));
        assert_eq!(next("0 9 * * 1-5"), Some(at(2026, 11, 30, 9, 0)));
        assert_eq!(next("0 0 1 1 *"), Some(at(2027, 1, 1, 0, 0)));
        assert_eq!(next("30 2 29 feb *"), Some(at(2028, 2, 29, 2, 30)));
        assert_eq!(next("0 12 * * sun"), Some(at(2026, 11, 29, 12, 0)));
        assert_eq!(next("0 12 * * 7"), Some(at(2026, 11, 29, 12, 0)));
        // Both day fields restricted: either matches (the 1st, or any Monday).
        assert_eq!(next("0 0 1 * mon"), Some(at(2026, 11, 30, 0, 0)));
        assert_eq!(next("5,10 1-2/1 * jan-mar,dec *"), Some(at(2026, 12, 1, 1, 5)));
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "*/0 * * * *",
            "1-5/4294967295 * * * *",
            "5-1 * * * *",
            "0 0 31 2 *",
            "x * * * *",
            "é * * * *",
        ] {
            assert!(CronExpr::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn intervals_count_from_the_previous_due_time_and_skip_missed_runs() {
        let interval = schedule(serde_json::json!({"type": "interval", "minutes": 5}));
        assert_eq!(interval, CronSchedule::Interval { seconds: 300 });
        assert_eq!(interval.next_run(None, 1_000), Some(1_000), "a new interval cron runs at once");
        assert_eq!(interval.next_run(Some(301_000), 301_500), Some(601_000));
        // Down for an hour: the next run is the first occurrence after now, not twelve at once.
        assert_eq!(interval.next_run(Some(301_000), 301_000 + 3_600_000), Some(301_000 + 3_900_000));
        for bad in [
            serde_json::json!({"type": "interval", "seconds": 0}),
            serde_json::json!({"type": "interval", "seconds": 1, "minutes": 1}),
            serde_json::json!({"type": "hourly", "minuteUTC": 60}),
            serde_json::json!({"type": "daily", "hourUTC": 24, "minuteUTC": 0}),
            serde_json::json!({"type": "weekly", "dayOfWeek": "someday", "hourUTC": 1, "minuteUTC": 0}),
            serde_json::json!({"type": "monthly", "day": 32, "hourUTC": 1, "minuteUTC": 0}),
            serde_json::json!({"type": "cron", "cron": "* * *"}),
            serde_json::json!({"type": "yearly"}),
        ] {
            assert!(parse_schedule("bad", &bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_missing_minute_is_stable_per_cron() {
        let a = parse_schedule("job a", &serde_json::json!({"type": "hourly"})).unwrap();
        let again = parse_schedule("job a", &serde_json::json!({"type": "hourly"})).unwrap();
        assert_eq!(a, again);
    }

    #[test]
    fn stored_specs_round_trip() {
        let exported = serde_json::json!({
            "tick": {"name": "jobs.js:log", "args": [{"kind": "tick"}], "schedule": {"type": "interval", "seconds": 1}},
            "weekly": {"name": "dir/jobs:log", "args": [{}], "schedule": {"type": "weekly", "dayOfWeek": "friday", "hourUTC": 1, "minuteUTC": 2}},
            "expr": {"name": "jobs:log", "args": [], "schedule": {"type": "cron", "cron": "0 0 1 1 *"}},
        });
        let specs = parse_specs(&exported).unwrap();
        assert_eq!(specs["tick"].udf_path, "jobs:log");
        assert_eq!(specs["weekly"].udf_path, "dir/jobs:log");
        for (name, spec) in &specs {
            assert_eq!(spec_from_value(name, &spec.to_value()).as_ref(), Some(spec));
        }
    }
}
