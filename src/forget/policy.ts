import { InvalidOptionsError } from '../errors/index.js'
import type { Snapshot } from '../repository/repository.js'

/**
 * Retention policies, evaluated without any I/O.
 *
 * A policy is a set of keep rules; a snapshot is kept when at least one rule keeps it, and each rule
 * that keeps it adds a reason. The count rules (`keepHourly` … `keepYearly`) sort time into
 * buckets (an hour, a day, an ISO week, a month, a year), walk the snapshots newest first and keep
 * the newest snapshot of each bucket met until N distinct buckets are kept; `keepLast` puts every
 * snapshot in a bucket of its own. This is restic's algorithm, except that restic (0.17 and later)
 * also keeps the oldest snapshot when a count is not used up; this module does not.
 *
 * - Time zone: buckets are cut in the `timeZone` given to `applyPolicy` (default `'local'`, the
 *   zone of the process, as restic buckets in the zone of the snapshot's time; pass `'UTC'` for
 *   results that do not depend on the machine).
 * - Weeks are ISO 8601 weeks: they start on Monday and week 1 is the week holding the year's first
 *   Thursday, so the last days of December can belong to week 1 of the next year (`2026-W01`
 *   starts on Monday 29 December 2025).
 * - `keepWithin` is measured back from the newest snapshot of the group that is not in the future
 *   (not after `now`), as restic does, so a group that stopped receiving backups keeps its last
 *   stretch of history instead of losing it as time passes. Years, months and days are calendar
 *   steps in `timeZone` (overflowing days roll over like Go's `AddDate`: 31 March minus one month
 *   is 3 March in a common year), hours are exact. A snapshot is within when strictly after the
 *   cutoff.
 * - The newest snapshot of a group is always kept (reason `newest of its group` when no rule keeps
 *   it), so no policy removes every snapshot of a group; an empty policy keeps all (`no policy`).
 */

/** Which snapshots to keep. Counts are non-negative integers; 0 or absent means the rule is off. */
export interface RetentionPolicy {
  /** The n newest snapshots. */
  keepLast?: number
  /** The newest snapshot of each of the n newest hours that have snapshots. */
  keepHourly?: number
  keepDaily?: number
  /** Weeks are ISO weeks (Monday to Sunday). */
  keepWeekly?: number
  keepMonthly?: number
  keepYearly?: number
  /**
   * Every snapshot younger than this duration, measured back from the newest snapshot: digits and a
   * unit, repeated: `y` years, `m` months, `w` weeks, `d` days, `h` hours (`30d`, `2w`, `1y6m`, `36h`).
   */
  keepWithin?: string
  /**
   * Every snapshot carrying one of these tags. An entry may list several tags separated by commas
   * (`'db,daily'`), then a snapshot must carry all of them (restic's `--keep-tag`).
   */
  keepTags?: string[]
}

/** A calendar duration, as `keepWithin` takes it (weeks are folded into days). */
export interface Duration {
  years: number
  months: number
  days: number
  hours: number
}

/** What the policy decided for one snapshot. `keep` is true exactly when `reasons` is not empty. */
export interface Decision {
  snapshot: Snapshot
  keep: boolean
  reasons: string[]
}

export type TimeZone = 'UTC' | 'local'

export interface ApplyOptions {
  /** Snapshots after this time are in the future and not the reference of `keepWithin` (default: now). */
  now?: Date
  /** The zone in which hours, days, weeks, months and years are cut (default `'local'`). */
  timeZone?: TimeZone
}

export type GroupField = 'host' | 'paths' | 'tags'

export const COUNT_RULES = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const
const POLICY_KEYS: ReadonlySet<string> = new Set<string>([...COUNT_RULES, 'keepWithin', 'keepTags'])
const GROUP_FIELDS: readonly GroupField[] = ['host', 'paths', 'tags']

const DURATION_FORM = 'a number and a unit, repeated, with units y (years), m (months), w (weeks), d (days) and h (hours), e.g. "30d", "2w", "1y6m" or "36h"'

/** Parses a `keepWithin` duration such as `30d`, `2w`, `1y6m` or `36h`; weeks become 7 days. */
export function parseDuration(s: string): Duration {
  const bad = (why: string) => new InvalidOptionsError(`invalid duration ${JSON.stringify(s)}: ${why}; expected ${DURATION_FORM}`, { duration: s })
  if (typeof s !== 'string' || !/^(?:\d+[ymwdh])+$/.test(s)) throw bad('not in the accepted form')
  const d: Duration = { years: 0, months: 0, days: 0, hours: 0 }
  const seen = new Set<string>()
  for (const [, digits, unit] of s.matchAll(/(\d+)([ymwdh])/g)) {
    if (seen.has(unit)) throw bad(`the unit "${unit}" appears twice`)
    seen.add(unit)
    const n = Number(digits)
    if (!Number.isSafeInteger(n)) throw bad(`${digits} is too large`)
    if (unit === 'y') d.years = n
    else if (unit === 'm') d.months = n
    else if (unit === 'w') d.days += 7 * n
    else if (unit === 'd') d.days += n
    else d.hours = n
  }
  if (d.years + d.months + d.days + d.hours === 0) throw bad('it must be longer than zero')
  return d
}

/**
 * Checks a policy and returns a copy without the rules that are off. Throws `InvalidOptionsError`
 * for unknown keys, counts that are not non-negative integers, a bad duration or a bad tag list.
 */
export function validatePolicy(policy: RetentionPolicy): RetentionPolicy {
  if (policy === null || typeof policy !== 'object') throw new InvalidOptionsError('a retention policy must be an object such as { keepDaily: 7 }')
  const out: RetentionPolicy = {}
  for (const key of Object.keys(policy)) {
    if (!POLICY_KEYS.has(key)) throw new InvalidOptionsError(`unknown retention rule "${key}"; known rules: ${[...POLICY_KEYS].join(', ')}`, { rule: key })
  }
  for (const key of COUNT_RULES) {
    const n = policy[key]
    if (n === undefined) continue
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new InvalidOptionsError(`${key} must be a non-negative integer (0 turns the rule off), not ${JSON.stringify(n)}`, { rule: key })
    }
    if (n > 0) out[key] = n
  }
  if (policy.keepWithin !== undefined) {
    parseDuration(policy.keepWithin)
    out.keepWithin = policy.keepWithin
  }
  if (policy.keepTags !== undefined) {
    if (!Array.isArray(policy.keepTags)) throw new InvalidOptionsError('keepTags must be an array of tags, e.g. ["important"]', { rule: 'keepTags' })
    for (const entry of policy.keepTags) {
      if (typeof entry !== 'string' || entry.split(',').some((t) => t.length === 0)) {
        throw new InvalidOptionsError(`keepTags entries must be non-empty tags, or tags joined by commas that must all be present ("db,daily"), not ${JSON.stringify(entry)}`, { rule: 'keepTags' })
      }
    }
    if (policy.keepTags.length > 0) out.keepTags = [...policy.keepTags]
  }
  return out
}

/** True when the policy has no rule that is on: applying it keeps everything. */
export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return Object.keys(validatePolicy(policy)).length === 0
}

/** A one-line description of a policy, e.g. `keep the last 3, 7 daily, within 30d, tag important`. */
export function describePolicy(policy: RetentionPolicy): string {
  const p = validatePolicy(policy)
  const parts: string[] = []
  if (p.keepLast) parts.push(`the last ${p.keepLast}`)
  if (p.keepHourly) parts.push(`${p.keepHourly} hourly`)
  if (p.keepDaily) parts.push(`${p.keepDaily} daily`)
  if (p.keepWeekly) parts.push(`${p.keepWeekly} weekly`)
  if (p.keepMonthly) parts.push(`${p.keepMonthly} monthly`)
  if (p.keepYearly) parts.push(`${p.keepYearly} yearly`)
  if (p.keepWithin) parts.push(`within ${p.keepWithin} of the newest`)
  for (const t of p.keepTags ?? []) parts.push(`tag ${t}`)
  return parts.length === 0 ? 'no policy: keep everything' : `keep ${parts.join(', ')}`
}

// ---- calendar -------------------------------------------------------------------------------------

interface Civil {
  year: number
  /** 1–12 */
  month: number
  day: number
  hour: number
}

function civil(t: Date, tz: TimeZone): Civil {
  return tz === 'UTC'
    ? { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate(), hour: t.getUTCHours() }
    : { year: t.getFullYear(), month: t.getMonth() + 1, day: t.getDate(), hour: t.getHours() }
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0')

/** ISO 8601 week-numbering year and week of a calendar date. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = Date.UTC(year, month - 1, day)
  const weekday = new Date(date).getUTCDay() || 7 // Monday 1 … Sunday 7
  const thursday = new Date(date + (4 - weekday) * 86_400_000) // the week's Thursday decides its year
  const y = thursday.getUTCFullYear()
  const dayOfYear = (thursday.getTime() - Date.UTC(y, 0, 1)) / 86_400_000
  return { year: y, week: Math.floor(dayOfYear / 7) + 1 }
}

type Bucketer = (c: Civil) => string

const BUCKETS: Array<{ rule: (typeof COUNT_RULES)[number]; name: string; bucket: Bucketer | null }> = [
  { rule: 'keepLast', name: 'last', bucket: null },
  { rule: 'keepHourly', name: 'hourly', bucket: (c) => `${pad(c.year, 4)}-${pad(c.month)}-${pad(c.day)}T${pad(c.hour)}` },
  { rule: 'keepDaily', name: 'daily', bucket: (c) => `${pad(c.year, 4)}-${pad(c.month)}-${pad(c.day)}` },
  {
    rule: 'keepWeekly',
    name: 'weekly',
    bucket: (c) => {
      const w = isoWeek(c.year, c.month, c.day)
      return `${pad(w.year, 4)}-W${pad(w.week)}`
    },
  },
  { rule: 'keepMonthly', name: 'monthly', bucket: (c) => `${pad(c.year, 4)}-${pad(c.month)}` },
  { rule: 'keepYearly', name: 'yearly', bucket: (c) => pad(c.year, 4) },
]

/** `ref` minus a calendar duration, in milliseconds; -Infinity when that is before any date. */
export function subtractDuration(ref: Date, d: Duration, tz: TimeZone = 'local'): number {
  const t = new Date(ref.getTime())
  if (tz === 'UTC') t.setUTCFullYear(t.getUTCFullYear() - d.years, t.getUTCMonth() - d.months, t.getUTCDate() - d.days)
  else t.setFullYear(t.getFullYear() - d.years, t.getMonth() - d.months, t.getDate() - d.days)
  const ms = t.getTime() - d.hours * 3_600_000
  return Number.isNaN(ms) ? -Infinity : ms
}

/** Newest first; equal times by id, highest first (so the newest is the one `latest` names). */
export function newestFirst(a: Snapshot, b: Snapshot): number {
  return b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
}

// ---- policy ---------------------------------------------------------------------------------------

/**
 * Decides, for one group of snapshots, which to keep and why. Returns one decision per snapshot,
 * newest first. Reasons: `last 2` (the second newest), `hourly 2026-11-20T14`, `daily 2026-11-20`,
 * `weekly 2026-W47`, `monthly 2026-11`, `yearly 2026`, `within 30d`, `tag important`,
 * `newest of its group`, `no policy`.
 */
export function applyPolicy(snapshots: Snapshot[], policy: RetentionPolicy, opts: ApplyOptions = {}): Decision[] {
  const p = validatePolicy(policy)
  const tz = opts.timeZone ?? 'local'
  if (tz !== 'UTC' && tz !== 'local') throw new InvalidOptionsError(`timeZone must be "UTC" or "local", not ${JSON.stringify(tz)}`)
  const sorted = [...snapshots].sort(newestFirst)
  if (Object.keys(p).length === 0) return sorted.map((snapshot) => ({ snapshot, keep: true, reasons: ['no policy'] }))

  let cutoff: number | undefined
  if (p.keepWithin !== undefined) {
    const now = (opts.now ?? new Date()).getTime()
    const ref = sorted.find((s) => s.time.getTime() <= now)?.time ?? new Date(now)
    cutoff = subtractDuration(ref, parseDuration(p.keepWithin), tz)
  }
  const tagLists = (p.keepTags ?? []).map((entry) => ({ entry, tags: entry.split(',') }))
  const counters = BUCKETS.filter((b) => (p[b.rule] ?? 0) > 0).map((b) => ({ ...b, left: p[b.rule]!, last: undefined as string | undefined }))

  return sorted.map((snapshot, nr) => {
    const reasons: string[] = []
    const c = civil(snapshot.time, tz)
    for (const k of counters) {
      if (k.left === 0) continue
      const bucket = k.bucket ? k.bucket(c) : String(nr + 1)
      if (bucket === k.last) continue
      k.last = bucket
      k.left--
      reasons.push(`${k.name} ${bucket}`)
    }
    if (cutoff !== undefined && snapshot.time.getTime() > cutoff) reasons.push(`within ${p.keepWithin}`)
    for (const { entry, tags } of tagLists) if (tags.every((t) => snapshot.tags.includes(t))) reasons.push(`tag ${entry}`)
    if (nr === 0 && reasons.length === 0) reasons.push('newest of its group')
    return { snapshot, keep: reasons.length > 0, reasons }
  })
}

// ---- groups ---------------------------------------------------------------------------------------

/**
 * Splits snapshots into the groups a policy applies to, one at a time: by default the snapshots of
 * the same host and the same set of paths. Keys read like `host="laptop" paths=["/home/me"]`
 * (values JSON-quoted so no two groups share a key; paths and tags sorted); with `by` empty every
 * snapshot is in the group `all`. Groups come in key order, each oldest first.
 */
export function groupSnapshots(snapshots: Snapshot[], by: GroupField[] = ['host', 'paths']): Map<string, Snapshot[]> {
  if (!Array.isArray(by)) throw new InvalidOptionsError('groupBy must be an array of "host", "paths" and "tags"')
  for (const f of by) {
    if (!GROUP_FIELDS.includes(f)) throw new InvalidOptionsError(`cannot group by ${JSON.stringify(f)}; group by any of "host", "paths" and "tags"`, { groupBy: f })
  }
  const fields = GROUP_FIELDS.filter((f) => by.includes(f))
  const groups = new Map<string, Snapshot[]>()
  for (const s of snapshots) {
    const key = fields.length === 0 ? 'all' : fields.map((f) => `${f}=${JSON.stringify(f === 'host' ? s.host : [...new Set(s[f])].sort())}`).join(' ')
    let g = groups.get(key)
    if (!g) groups.set(key, (g = []))
    g.push(s)
  }
  const out = new Map<string, Snapshot[]>()
  for (const key of [...groups.keys()].sort()) out.set(key, groups.get(key)!.sort((a, b) => -newestFirst(a, b)))
  return out
}
