/**
 * What the sync layer says about a protected repository (protected history): the protection the
 * repository records, why a snapshot is suspicious, and the outcome of the daily check of the
 * storage's object versions (delete markers and overwrites no trusted operation made), kept in the
 * workspace state and shown by status, the plugin's sync_status and the dashboard.
 */
import type { Repository, Snapshot, VersionsReport } from '../library.js'
import { formatTime } from './time.js'
import type { SyncStatus } from './workspace-sync.js'

/** The protection a protected repository records (read back from the bucket when it was made). */
export interface ProtectionInfo {
  versioning: 'enabled'
  objectLock: boolean
  /** Object Lock's default retention, where the bucket has one: mode and days. */
  lockMode?: 'GOVERNANCE' | 'COMPLIANCE'
  lockDays?: number
}

/** One version event no trusted operation explains. */
export interface UnexplainedVersionEvent {
  /** The stored file: `<type>/<name>` (`snapshots/…`, `data/…`). */
  key: string
  /**
   * `delete`: a delete marker no journal record named; `overwrite`: stored again with other bytes;
   * `forged`: a removal journal record not signed by the repository's owner key (written by someone
   * holding the repository key, to make deletes look explained).
   */
  kind: 'delete' | 'overwrite' | 'forged'
  /** When the storage recorded it (ISO), where it tells. */
  time?: string
}

/** The outcome of the last check of the storage's object versions (protected mode, at most once a day). */
export interface VersionCheck {
  /** When it ran (ISO). */
  time: string
  /** Delete markers no record of the removal journal (a trusted prune's, forget's) explains. */
  unexplainedDeletes: number
  /** Files stored again under their name with other bytes: no writer of a protected repository overwrites. */
  overwrites: number
  /** Removal journal records whose owner-key signature is wrong or missing where one is required. */
  forgedRecords?: number
  /** The first events (at most VERSION_EVENTS_KEPT), oldest first. */
  events: UnexplainedVersionEvent[]
  /** Object versions listed. */
  versionsListed: number
  /** The storage keeps no versions (NO_VERSIONS): nothing could be checked; why. */
  unavailable?: string
}

/** How many unexplained events the state and status keep (the owner's `check --versions` lists all). */
export const VERSION_EVENTS_KEPT = 10

/** The protection `repo` records, or undefined for an unprotected repository. */
export function protectionOf(repo: Pick<Repository, 'config'>): ProtectionInfo | undefined {
  const p = repo.config.protect
  if (!p) return undefined
  return { versioning: p.versioning, objectLock: p.objectLock, ...(p.retention ? { lockMode: p.retention.mode, lockDays: p.retention.days } : {}) }
}

/** For a person: `versioning, Object Lock GOVERNANCE 37 days`. */
export function describeProtection(p: ProtectionInfo): string {
  if (!p.objectLock) return 'versioning, no Object Lock'
  return `versioning, Object Lock${p.lockMode ? ` ${p.lockMode} ${p.lockDays} days` : ' without a default retention'}`
}

/** The kept form of a versions report. */
export function versionCheckOf(report: VersionsReport, time: Date): VersionCheck {
  const events: UnexplainedVersionEvent[] = ([
    ...report.unexplainedDeletes.map((e) => ({ key: `${e.type}/${e.name}`, kind: 'delete' as const, ...(e.time ? { time: e.time.toISOString() } : {}) })),
    ...report.overwrites.map((e) => ({ key: `${e.type}/${e.name}`, kind: 'overwrite' as const, ...(e.time ? { time: e.time.toISOString() } : {}) })),
    ...report.forgedJournalRecords.map((f) => ({ key: `journal/${f.name}`, kind: 'forged' as const })),
  ] as UnexplainedVersionEvent[]).sort((a, b) => (a.time ?? '').localeCompare(b.time ?? ''))
  return { time: time.toISOString(), unexplainedDeletes: report.unexplainedDeletes.length, overwrites: report.overwrites.length, forgedRecords: report.forgedJournalRecords.length, events: events.slice(0, VERSION_EVENTS_KEPT), versionsListed: report.versionsListed }
}

/** All a check found: delete markers, overwrites and forged journal records. */
export function versionEventCount(c: Pick<VersionCheck, 'unexplainedDeletes' | 'overwrites' | 'forgedRecords'>): number {
  return c.unexplainedDeletes + c.overwrites + (c.forgedRecords ?? 0)
}

/**
 * The warning a check with unexplained events gives: what it means and what the owner does about
 * it. Undefined when there is nothing to say.
 */
export function versionCheckWarning(c: VersionCheck): string | undefined {
  if (c.unavailable) return `protected history: the storage's object versions cannot be listed (${c.unavailable}), so delete markers and overwrites cannot be checked`
  if (versionEventCount(c) === 0) return undefined
  const what = [c.unexplainedDeletes > 0 ? `${c.unexplainedDeletes} delete marker(s)` : '', c.overwrites > 0 ? `${c.overwrites} overwrite(s)` : '', c.forgedRecords ? `${c.forgedRecords} removal journal record(s) not signed by the owner key` : ''].filter(Boolean).join(' and ')
  const first = c.events[0]
  const since = first?.time ? `, the first ${formatTime(new Date(first.time))}` : ''
  const names = c.events.slice(0, 3).map(eventText).join(', ')
  return (
    `protected history: the storage holds ${what} that no trusted prune or forget made (checked ${formatTime(new Date(c.time))}${since}: ${names}): ` +
    `a credential that may delete or overwrite was used on the repository, perhaps by a compromised agent. ` +
    `From a trusted device the owner runs "session-sync check --versions" to list them, and restores with "session-sync --as-of <a time before the first> restore" or copies that state out with "session-sync --as-of <time> recover --to <new location>"`
  )
}

/** Why a snapshot is suspicious (see Snapshot.suspicious), for a person; undefined when it is not. */
export function suspicionOf(s: Pick<Snapshot, 'suspicious' | 'storedAt' | 'timeGiven' | 'time'>): string | undefined {
  if (!s.suspicious || !s.storedAt) return undefined
  const off = s.time.getTime() - s.storedAt.getTime()
  const hours = Math.abs(off) / 3_600_000
  const by = hours >= 48 ? `${Math.round(hours / 24)} days` : hours >= 1 ? `${Math.round(hours)} hours` : `${Math.round(Math.abs(off) / 60_000)} minutes`
  return `its time is ${by} ${off > 0 ? 'after' : 'before'} the storage received it (${formatTime(s.storedAt)})${s.timeGiven ? ', set with --time' : ', forged or from a clock far off'}: retention judges it by the storage's time`
}

/**
 * What a protected workspace's status says about its protection, one short line each (the plugin's
 * sync_status and `session-sync sync status` show them): protected, where pruning runs, suspicious
 * snapshots, the last check of the object versions, config changes waiting for the owner. Empty
 * outside protected mode. The warnings say more about each.
 */
export function protectedStatusLines(st: Pick<SyncStatus, 'protected' | 'protection' | 'pruning' | 'suspiciousSnapshots' | 'versionCheck' | 'pendingConfigChange'>): string[] {
  if (!st.protected) return []
  const lines = [`protected history${st.protection ? ` (${describeProtection(st.protection)})` : ''}: this credential cannot delete or overwrite the backups`]
  if (st.pruning) lines.push(st.pruning)
  const sus = st.suspiciousSnapshots ?? []
  lines.push(sus.length === 0 ? 'suspicious snapshots: none' : `suspicious snapshots: ${sus.length} (${sus.slice(0, 5).map((id) => id.slice(0, 8)).join(', ')}${sus.length > 5 ? ', …' : ''}), judged by the storage's time`)
  const c = st.versionCheck
  if (!c) lines.push('object versions: not checked yet (after the next sync)')
  else if (c.unavailable) lines.push('object versions: cannot be listed on this storage')
  else if (versionEventCount(c) === 0) lines.push(`object versions: no delete or overwrite that no trusted prune made (checked ${formatTime(new Date(c.time))})`)
  else lines.push(`object versions: ${c.unexplainedDeletes} delete marker(s) and ${c.overwrites} overwrite(s) that no trusted prune made${c.forgedRecords ? `, ${c.forgedRecords} forged journal record(s)` : ''} (checked ${formatTime(new Date(c.time))}): ${c.events.slice(0, 3).map(eventText).join(', ')}${c.events.length > 3 ? ', …' : ''}`)
  const pending = st.pendingConfigChange ?? []
  lines.push(pending.length === 0 ? 'config changes waiting for the owner: none' : `config changes waiting for the owner's confirmation: ${pending.join('; ')}`)
  return lines
}

function eventText(e: UnexplainedVersionEvent): string {
  return `${e.kind === 'delete' ? 'deleted' : e.kind === 'overwrite' ? 'overwritten' : 'forged record'} ${e.key}`
}
