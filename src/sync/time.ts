/**
 * Snapshot times as people write them, read the same way by every adapter (plugin tools, CLI,
 * dashboard).
 *
 * - A `TimeRef` is what the person asked for: `latest`, `latest~N` (N snapshots before the
 *   latest), or an instant — from a relative form (`30m`, `2d`: that long ago), an ISO 8601 time
 *   with an offset, or a local date or time read in an IANA time zone.
 * - `resolveTimeRef` picks the snapshot it names: the newest at or before the instant.
 * - `formatTime` writes an instant as local time with its offset, which `parseTimeRef` reads back
 *   to the same instant.
 *
 * Local times are mapped to instants the way Temporal's "compatible" disambiguation does: a time
 * that occurs twice (clocks turned back) is the earlier one; a time skipped when clocks go forward
 * is moved forward by the gap (02:30 on the spring-forward night is 03:30 summer time).
 */
import { InvalidOptionsError, SnapshotNotFoundError } from '../library.js'

/**
 * A snapshot reference as given (`text`): `back` snapshots before the latest, or an instant with
 * the zone it was read in — an IANA name for a local time, the offset (`+01:00`) or `UTC` (for `Z`)
 * when the text had one, `relative` for `30m` and the like.
 */
export type TimeRef = { kind: 'latest'; back: number; text: string } | { kind: 'time'; time: Date; zone: string; text: string }

const MINUTE = 60_000
const UNIT_MS: Record<string, number> = { m: MINUTE, h: 60 * MINUTE, d: 24 * 60 * MINUTE, w: 7 * 24 * 60 * MINUTE }

// Date, optionally time (T or space), optionally an offset: 2026-11-03, 2026-11-03T10:00, 2026-11-03 10:00:00.5+01:00
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i

/**
 * Reads a snapshot reference. Times without an offset are local to `opts.timeZone` (an IANA name,
 * default: the process's zone); a bare date is its local midnight; relative forms count back from
 * `opts.now` (default: now). Throws `InvalidOptionsError` listing the accepted forms.
 */
export function parseTimeRef(input: string, opts: { now?: Date; timeZone?: string } = {}): TimeRef {
  const text = input.trim()
  const latest = /^latest(?:~(\d+))?$/i.exec(text)
  if (latest) return { kind: 'latest', back: latest[1] === undefined ? 0 : Number(latest[1]), text }

  const relative = /^(\d+)\s*([mhdw])$/.exec(text)
  if (relative) {
    const now = opts.now ?? new Date()
    return { kind: 'time', time: new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2]]), zone: 'relative', text }
  }

  const iso = ISO.exec(text)
  if (!iso) throw new InvalidOptionsError(`cannot read "${text}" as a snapshot time; ${acceptedForms(opts.timeZone)}`, { input: text })
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', offset] = iso
  const wall = { year: +y, month: +mo, day: +d, hour: +h, minute: +mi, second: +s, ms: Number(frac.padEnd(3, '0').slice(0, 3)) }
  const wallMs = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second, wall.ms)
  const check = new Date(wallMs)
  // Date.UTC rolls over (Feb 30 is March 2) and reads years 0-99 as 1900-1999: the fields must come back.
  const sameDay = check.getUTCFullYear() === wall.year && check.getUTCMonth() + 1 === wall.month && check.getUTCDate() === wall.day
  if (!sameDay || wall.hour > 23 || wall.minute > 59 || wall.second > 59) {
    throw new InvalidOptionsError(`"${text}" is not a valid date and time; ${acceptedForms(opts.timeZone)}`, { input: text })
  }
  if (offset) {
    if (offset.toUpperCase() === 'Z') return { kind: 'time', time: check, zone: 'UTC', text }
    const [, sign, oh, om = '00'] = /^([+-])(\d{2}):?(\d{2})?$/.exec(offset)!
    if (+oh > 23 || +om > 59) throw new InvalidOptionsError(`"${offset}" is not a valid UTC offset in "${text}"; ${acceptedForms(opts.timeZone)}`, { input: text })
    const minutes = (sign === '-' ? -1 : 1) * (+oh * 60 + +om)
    return { kind: 'time', time: new Date(wallMs - minutes * MINUTE), zone: `${sign}${oh}:${om}`, text }
  }
  const zone = zoneOrDefault(opts.timeZone)
  return { kind: 'time', time: new Date(localToInstant(wallMs, zone)), zone, text }
}

/**
 * Picks the snapshot a reference names: for `latest~N` the (N+1)-th newest; for a time the newest
 * at or before it. `description` says which was chosen and why, with the time in the zone it was
 * read in and in UTC. Throws `SnapshotNotFoundError` when there are too few snapshots, and
 * `InvalidOptionsError` (saying when the earliest snapshot is from) when the time precedes them all.
 */
export function resolveTimeRef<S extends { id: string; time: Date }>(ref: TimeRef, snapshots: readonly S[]): { snapshot: S; description: string } {
  const newestFirst = [...snapshots].sort((a, b) => b.time.getTime() - a.time.getTime() || b.id.localeCompare(a.id))
  const which = (s: S) => `${s.id.slice(0, 8)} from ${isoUtc(s.time)}`
  if (ref.kind === 'latest') {
    const snapshot = newestFirst[ref.back]
    if (!snapshot) throw new SnapshotNotFoundError(ref.text)
    const position = ref.back === 0 ? 'latest snapshot' : `${ordinal(ref.back + 1)} newest snapshot (${ref.text})`
    return { snapshot, description: `${position}: ${which(snapshot)}` }
  }
  const explicitOffset = /^[+-]/.test(ref.zone) || /z$/i.test(ref.text)
  const read = ref.zone === 'relative' ? `${ref.text} ago` : explicitOffset ? ref.text : `${ref.text} ${ref.zone}`
  const asked = `${read} (${isoUtc(ref.time)})`
  const snapshot = newestFirst.find((s) => s.time.getTime() <= ref.time.getTime())
  if (!snapshot) {
    const earliest = newestFirst[newestFirst.length - 1]
    if (!earliest) throw new SnapshotNotFoundError(ref.text)
    throw new InvalidOptionsError(`no snapshot at or before ${asked}: the earliest is ${which(earliest)}`, { input: ref.text, earliest: earliest.time.toISOString() })
  }
  return { snapshot, description: `newest snapshot at or before ${asked}: ${which(snapshot)}` }
}

/**
 * An instant as local time with its offset, `2026-11-03 10:00:00+01:00` (milliseconds only when
 * not zero), in `timeZone` (default: the process's zone). `parseTimeRef` reads it back exactly.
 */
export function formatTime(d: Date, timeZone?: string): string {
  const zone = zoneOrDefault(timeZone)
  const t = d.getTime()
  const offset = offsetMinutes(t, zone)
  const local = new Date(t + offset * MINUTE)
  const p2 = (n: number) => String(n).padStart(2, '0')
  const ms = local.getUTCMilliseconds() ? `.${String(local.getUTCMilliseconds()).padStart(3, '0')}` : ''
  const abs = Math.abs(offset)
  return (
    `${local.getUTCFullYear()}-${p2(local.getUTCMonth() + 1)}-${p2(local.getUTCDate())} ` +
    `${p2(local.getUTCHours())}:${p2(local.getUTCMinutes())}:${p2(local.getUTCSeconds())}${ms}` +
    `${offset < 0 ? '-' : '+'}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`
  )
}

function acceptedForms(timeZone: string | undefined): string {
  return (
    'use one of: "latest"; "latest~N" for N snapshots before the latest (latest~2); ' +
    'a time ago in minutes, hours, days or weeks (30m, 1h, 2d, 1w); ' +
    `a local date or time, read in ${zoneOrDefault(timeZone)} (2026-11-03 for its midnight, 2026-11-03 10:00, 2026-11-03T10:00:00); ` +
    'or a time with an offset (2026-11-03T10:00:00+01:00, 2026-11-03T09:00:00Z)'
  )
}

/** The zone to read local times in: the one given, checked, or the process's. */
function zoneOrDefault(timeZone: string | undefined): string {
  const zone = timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone
  formatterFor(zone) // throws for an unknown zone
  return zone
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** A formatter giving the wall-clock fields of an instant in the zone; throws for an unknown zone. */
function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone)
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      })
    } catch {
      throw new InvalidOptionsError(`unknown time zone "${zone}"; use an IANA name such as Europe/Berlin or America/New_York`, { timeZone: zone })
    }
    formatters.set(zone, f)
  }
  return f
}

/** Minutes the zone's wall clock is ahead of UTC at the instant. */
function offsetMinutes(instant: number, zone: string): number {
  const parts: Record<string, number> = {}
  for (const p of formatterFor(zone).formatToParts(new Date(instant))) if (p.type !== 'literal') parts[p.type] = Number(p.value)
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second)
  const whole = instant - (((instant % 1000) + 1000) % 1000)
  return Math.round((wall - whole) / MINUTE)
}

/** The instant of a wall-clock time (given as if it were UTC) in the zone, disambiguated as "compatible". */
function localToInstant(wallMs: number, zone: string): number {
  // Offsets in force a day either side cover any transition near this wall time.
  const before = offsetMinutes(wallMs - 86_400_000, zone)
  const after = offsetMinutes(wallMs + 86_400_000, zone)
  const valid = [before, after].map((o) => wallMs - o * MINUTE).filter((t) => offsetMinutes(t, zone) * MINUTE === wallMs - t)
  if (valid.length > 0) return Math.min(...valid)
  return wallMs - before * MINUTE // in a gap: read with the offset before it, so it lands after the gap
}

function isoUtc(d: Date): string {
  return d.toISOString().replace('.000Z', 'Z')
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th'
  return `${n}${suffix}`
}
