/**
 * The sync's retention rule, as a plan over one agent's snapshots: keep every snapshot younger than
 * `retention_days`, the newest snapshot of each device whatever its age, and restore-safety
 * snapshots for max(7 days, `retention_days`), so an undo stays possible for at least a week.
 */
import type { Snapshot } from '../library.js'

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

/** Decides, for each of an agent's snapshots, whether it stays and why. Newest first. */
export function retentionPlan(snapshots: Array<Pick<Snapshot, 'id' | 'time' | 'tags' | 'host'>>, opts: { now: Date; retentionDays: number }): RetentionDecision[] {
  const now = opts.now.getTime()
  const safetyDays = Math.max(SAFETY_MIN_DAYS, opts.retentionDays)
  const sorted = [...snapshots].sort((a, b) => b.time.getTime() - a.time.getTime() || b.id.localeCompare(a.id))
  const newestSeen = new Set<string>()
  return sorted.map((s) => {
    const device = deviceOf(s)
    const age = now - s.time.getTime()
    const d = { id: s.id, time: s.time.toISOString(), device }
    const newest = !newestSeen.has(device)
    newestSeen.add(device)
    if (age < opts.retentionDays * DAY_MS) return { ...d, keep: true, reason: `within ${opts.retentionDays} days` }
    if (newest) return { ...d, keep: true, reason: `newest of device ${device}` }
    if (s.tags.includes('trigger:restore-safety') && age < safetyDays * DAY_MS) return { ...d, keep: true, reason: `restore safety within ${safetyDays} days` }
    return { ...d, keep: false, reason: `older than ${opts.retentionDays} days` }
  })
}
