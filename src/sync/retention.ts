/**
 * The sync's retention rule, as a plan over one agent's snapshots: keep every snapshot younger than
 * `retention_days`, the newest snapshot of each device whatever its age, and restore-safety
 * snapshots for max(7 days, `retention_days`), so an undo stays possible for at least a week.
 */
import type { Repository, Snapshot } from '../library.js'

export interface RetentionDecision {
  id: string
  time: string
  device: string
  keep: boolean
  /** Why: `within 30 days`, `newest of device calm-river-3f2a`, `restore safety within 7 days`, `older than 30 days`. */
  reason: string
}

export const SAFETY_MIN_DAYS = 7
const DAY_MS = 24 * 60 * 60 * 1000

export function deviceOf(s: Pick<Snapshot, 'tags' | 'host'>): string {
  return s.tags.find((t) => t.startsWith('device:'))?.slice(7) ?? s.host
}

/**
 * Decides, for each of an agent's snapshots, whether it stays and why. Newest first. With
 * `byStorageTime` (a protected repository, where retention must not be gamed by forged times) every
 * snapshot is judged by its storage time, and a suspicious one (its time does not fit that: see
 * Snapshot.suspicious) never takes a device's "newest" place from a snapshot whose time fits.
 * Without it, snapshots are judged by their own times (what a sync with an injected clock relies on).
 */
export function retentionPlan(
  snapshots: Array<Pick<Snapshot, 'id' | 'time' | 'tags' | 'host'> & Partial<Pick<Snapshot, 'storedAt' | 'suspicious'>>>,
  opts: { now: Date; retentionDays: number; byStorageTime?: boolean },
): RetentionDecision[] {
  const now = opts.now.getTime()
  const safetyDays = Math.max(SAFETY_MIN_DAYS, opts.retentionDays)
  const judged = (s: (typeof snapshots)[number]) => (s.storedAt && opts.byStorageTime ? s.storedAt : s.time)
  const suspicious = (s: (typeof snapshots)[number]) => opts.byStorageTime === true && s.suspicious === true
  const sorted = [...snapshots].sort((a, b) => judged(b).getTime() - judged(a).getTime() || b.id.localeCompare(a.id))
  const newestSeen = new Set<string>()
  return sorted.map((s) => {
    const device = deviceOf(s)
    const age = now - judged(s).getTime()
    const d = { id: s.id, time: s.time.toISOString(), device }
    const newest = !suspicious(s) && !newestSeen.has(device)
    if (!suspicious(s)) newestSeen.add(device)
    if (age < opts.retentionDays * DAY_MS) return { ...d, keep: true, reason: `within ${opts.retentionDays} days` }
    if (newest) return { ...d, keep: true, reason: `newest of device ${device}` }
    if (s.tags.includes('trigger:restore-safety') && age < safetyDays * DAY_MS) return { ...d, keep: true, reason: `restore safety within ${safetyDays} days` }
    return { ...d, keep: false, reason: `older than ${opts.retentionDays} days` }
  })
}

/**
 * The sync layer's plan for one repository, as its retention applies it: in a protected repository
 * (`repo.protected`) by storage times. WorkspaceSync.applyRetention and the dashboard (also opened on
 * a bare repository) both call this one, so what the dashboard shows is what retention does.
 */
export function syncRetentionPlan(
  repo: Pick<Repository, 'protected'>,
  snapshots: Parameters<typeof retentionPlan>[0],
  opts: { now: Date; retentionDays: number },
): RetentionDecision[] {
  return retentionPlan(snapshots, { ...opts, byStorageTime: repo.protected })
}
