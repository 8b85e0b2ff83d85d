/**
 * What the dashboard reads and acts on: an agent's WorkspaceSync (a workspace, its log, restores and
 * undos), or a bare repository opened read-only (`session-sync --repo … dashboard`): its snapshots,
 * trees, history, diffs, search and downloads, but no workspace to restore into, so every
 * state-changing call is refused with READ_ONLY.
 */
import { ReadOnlyError, type Repository, type Snapshot } from '../library.js'
import { deviceOf, errorOf, protectionOf, syncRetentionPlan, versionCheckOf, versionCheckWarning, type RetentionDecision, type VersionCheck, type RestoreRecord, type RestoreRequest, type RestoreResult, type RestoreStepProgress, type SyncLogEntry, type SyncStatus, type WorkspaceSync } from '../sync/index.js'

export interface DashboardSource {
  /** The agent whose snapshots are shown (tag `agent:<id>`); '' shows every snapshot. */
  readonly agent: string
  readonly device: string
  /** The workspace folder; '' when there is none (read-only). */
  readonly workspace: string
  readonly config: { retentionDays: number }
  /** Nothing may change: no restore, no undo (a repository without a workspace). */
  readonly readOnly?: boolean
  repository(): Promise<Repository>
  status(): Promise<SyncStatus>
  /** The sync layer's retention plan over these snapshots: what its retention keeps and why (by storage times in a protected repository). */
  retentionPlan(snapshots: Snapshot[]): Promise<RetentionDecision[]>
  log(opts?: { limit?: number }): SyncLogEntry[]
  restores(): RestoreRecord[]
  restore(req: RestoreRequest): Promise<RestoreResult>
  undo(id: string, opts?: { signal?: AbortSignal; onProgress?: (p: RestoreStepProgress) => void }): Promise<RestoreResult>
}

/** A WorkspaceSync is a source as it is. */
export function workspaceSource(sync: WorkspaceSync): DashboardSource {
  return sync
}

/**
 * A repository opened without a workspace: read-only. `agent` narrows to one agent's snapshots
 * (default: all); retention is shown with `retentionDays` (default 30, the sync layer's default).
 */
export function repositorySource(repo: Repository, opts: { agent?: string; location?: string; retentionDays?: number } = {}): DashboardSource {
  const agent = opts.agent ?? ''
  const snapshots = (): Promise<Snapshot[]> => repo.snapshots(agent ? { tags: [`agent:${agent}`] } : {})
  // A protected repository's object versions, listed once per source (reads only).
  let versions: Promise<VersionCheck> | undefined
  const versionCheck = (): Promise<VersionCheck> =>
    (versions ??= repo.checkVersions().then(
      (r) => versionCheckOf(r, new Date()),
      (e: unknown) => {
        const err = errorOf(e)
        // Only storage that keeps no versions is "unavailable"; any other failure (the network, an
        // unreadable owner key record) is the check's own error, asked again next time.
        if (err.code !== 'NO_VERSIONS') {
          versions = undefined
          throw e
        }
        return { time: new Date().toISOString(), unexplainedDeletes: 0, overwrites: 0, events: [], versionsListed: 0, unavailable: err.message }
      },
    ))
  const refuse = (): never => {
    throw new ReadOnlyError('the dashboard was opened on a repository without a workspace: restore with "session-sync restore <snapshot> --target <folder>", or open the dashboard with --workspace')
  }
  return {
    agent,
    device: '',
    workspace: '',
    config: { retentionDays: opts.retentionDays ?? 30 },
    readOnly: true,
    repository: async () => repo,
    async status(): Promise<SyncStatus> {
      const all = await snapshots()
      const perDevice: Record<string, number> = {}
      for (const s of all) perDevice[deviceOf(s)] = (perDevice[deviceOf(s)] ?? 0) + 1
      const last = all.at(-1)
      let stored = 0
      for (const s of all) stored += s.summary?.bytesStored ?? 0
      const warnings: string[] = []
      const protection = protectionOf(repo)
      const guarded: Partial<SyncStatus> = {}
      if (protection) {
        guarded.protected = true
        guarded.protection = protection
        guarded.pruning = `pruning runs from a trusted device: "session-sync --repo … --trusted forget …" and "prune" (or "session-sync sync retention --workspace …") with the owner's credential`
        try {
          guarded.versionCheck = await versionCheck()
          const w = versionCheckWarning(guarded.versionCheck)
          if (w) warnings.push(w)
        } catch (e) {
          const err = errorOf(e)
          warnings.push(`protected history: the check of the storage's object versions failed (${err.code}): ${err.message}`)
        }
      }
      if (repo.suspiciousSnapshots.length > 0) {
        guarded.suspiciousSnapshots = repo.suspiciousSnapshots.map((x) => x.id)
        warnings.push(`${repo.suspiciousSnapshots.length} snapshot(s) whose time does not fit when the storage received them (forged, or set with --time): retention judges them by their storage time: ${repo.suspiciousSnapshots.slice(0, 5).map((x) => x.shortId).join(', ')}`)
      }
      return {
        ...guarded,
        configured: true,
        enabled: false,
        workspace: '',
        agent,
        device: '',
        location: opts.location,
        lastSync: last ? { time: last.time.toISOString(), trigger: last.tags.find((t) => t.startsWith('trigger:'))?.slice(8) ?? 'backup', result: 'ok', snapshot: last.id } as SyncStatus['lastSync'] : undefined,
        intervalMinutes: 0,
        snapshotsPerDevice: perDevice,
        storedBytes: stored,
        rawBytes: last?.summary?.totalBytes,
        secretsSkipped: [],
        storageReachable: true,
        schedule: { running: false },
        failuresInARow: 0,
        warnings,
      }
    },
    retentionPlan: async (all) => syncRetentionPlan(repo, all, { now: new Date(), retentionDays: opts.retentionDays ?? 30 }),
    log: () => [],
    restores: () => [],
    restore: async () => refuse(),
    undo: async () => refuse(),
  }
}
