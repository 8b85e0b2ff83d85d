import { AmbiguousSnapshotError, CorruptObjectError, InvalidOptionsError, SnapshotNotFoundError, throwIfAborted, UnsupportedFormatError } from '../errors/index.js'
import { snapshotOrderTime, type Repository, type Snapshot } from '../repository/repository.js'
import { applyPolicy, COUNT_RULES, groupSnapshots, validatePolicy, type Decision, type GroupField, type RetentionPolicy, type TimeZone } from './policy.js'

/** How many snapshot files are removed at once. */
const REMOVE_CONCURRENCY = 8

export interface ForgetProgress {
  removed: number
  total: number
}

export interface ForgetOptions {
  /** Decide and report, remove nothing. */
  dryRun?: boolean
  /** What makes snapshots one group that the policy applies to (default host and paths). */
  groupBy?: GroupField[]
  /** Only consider the snapshots of this host; the others are left alone. */
  host?: string
  signal?: AbortSignal
  /** Called once before the first removal and after each one. */
  onProgress?: (p: ForgetProgress) => void
  /** Snapshots after this time do not count as the newest for `keepWithin` (default: now). */
  now?: Date
  /** The zone in which policy buckets are cut (default `'local'`, see policy.ts). */
  timeZone?: TimeZone
}

export interface ForgetSummary {
  /** Each group with the decision for each of its snapshots (newest first). */
  groups: Array<{ key: string; decisions: Decision[] }>
  kept: number
  /** Snapshots removed (with `dryRun`: that would have been removed). */
  removed: number
  removedIds: string[]
  /**
   * Snapshots dated after the storage's time of their file (Snapshot.futureDated), by id: the policy
   * counted each by its storage time, so none took the place of a real snapshot.
   */
  futureDated: string[]
  /**
   * Snapshots whose time does not fit the storage's time of their file (Snapshot.suspicious), by
   * id: each was judged by its storage time, and none took the place of a snapshot whose time fits.
   */
  suspicious: string[]
  /** Said for a person: count rules in a protected repository (they can be outvoted by volume). */
  warnings: string[]
  dryRun: boolean
  durationMs: number
}

/**
 * Applies a retention policy to every group of snapshots and removes the snapshot files of the
 * snapshots it does not keep. Only snapshot files go: the data they alone referenced stays until
 * prune. An empty policy keeps everything, and the newest snapshot of each group is always kept.
 * On abort, removals already done stay done; the snapshots are re-read on the next run.
 */
export async function forget(repo: Repository, policy: RetentionPolicy, opts: ForgetOptions = {}): Promise<ForgetSummary> {
  const started = performance.now()
  validatePolicy(policy)
  groupSnapshots([], opts.groupBy) // checks groupBy before any I/O
  throwIfAborted(opts.signal, 'forget')
  const all = await repo.snapshots(opts.host === undefined ? {} : { host: opts.host })
  throwIfAborted(opts.signal, 'forget')
  // A snapshot dated in the future is judged by when the storage received it: otherwise it would
  // count as the newest and take a keep-last slot (and every later one) from real snapshots. So is a
  // suspicious one (its time outside the span its backup could have run in), and in a protected
  // repository every snapshot: there retention always goes by the storage's times.
  const byId = new Map(all.map((s) => [s.id, s]))
  const byStorage = (s: Snapshot) => (s.storedAt && (repo.protected || s.suspicious) ? s.storedAt : snapshotOrderTime(s))
  const judged = all.map((s) => ({ ...s, time: byStorage(s) }))
  const groups: ForgetSummary['groups'] = []
  for (const [key, snaps] of groupSnapshots(judged, opts.groupBy)) {
    const apply = (list: Snapshot[]) => applyPolicy(list, policy, { now: opts.now, timeZone: opts.timeZone })
    // Snapshots whose time fits are decided among themselves, so no suspicious one (a flood of junk
    // with forged times) can take their place; suspicious ones are decided among all.
    const fits = snaps.filter((s) => !s.suspicious)
    const own = new Map((fits.length === snaps.length ? apply(snaps) : apply(fits)).map((d) => [d.snapshot.id, d]))
    const decisions = fits.length === snaps.length ? [...own.values()] : apply(snaps).map((d) => own.get(d.snapshot.id) ?? d)
    groups.push({ key, decisions: decisions.map((d) => ({ ...d, snapshot: byId.get(d.snapshot.id)! })) })
  }
  const warnings: string[] = []
  const counts = COUNT_RULES.filter((r) => policy[r] !== undefined && policy[r] !== 0)
  if (repo.protected && counts.length > 0) {
    warnings.push(`${counts.join(', ')} count${counts.length === 1 ? 's' : ''} snapshots: in a protected repository a writer can outvote ${counts.length === 1 ? 'it' : 'them'} with many snapshots whose times look right; keep by time (keepWithin) instead`)
  }
  const doomed = groups.flatMap((g) => g.decisions.filter((d) => !d.keep).map((d) => d.snapshot))
  const dryRun = opts.dryRun ?? false
  if (!dryRun) await removeSnapshots(repo, doomed.map((s) => s.id), opts)
  return {
    groups,
    kept: all.length - doomed.length,
    removed: doomed.length,
    removedIds: doomed.map((s) => s.id),
    futureDated: all.filter((s) => s.futureDated).map((s) => s.id),
    suspicious: all.filter((s) => s.suspicious).map((s) => s.id),
    warnings,
    dryRun,
    durationMs: performance.now() - started,
  }
}

export interface ForgetSnapshotsOptions {
  dryRun?: boolean
  signal?: AbortSignal
  onProgress?: (p: ForgetProgress) => void
}

export interface ForgetSnapshotsSummary {
  /** The snapshots named (each once), oldest first. */
  snapshots: Snapshot[]
  /** Named snapshots whose file cannot be read (see Repository.snapshotProblems): removed all the same. */
  unreadable: string[]
  /** Snapshots removed (with `dryRun`: that would have been removed). */
  removed: number
  removedIds: string[]
  dryRun: boolean
  durationMs: number
}

/**
 * Removes the named snapshots (full ids or unique id prefixes). Every name is resolved before
 * anything is removed, so an unknown (`SNAPSHOT_NOT_FOUND`) or ambiguous (`AMBIGUOUS_SNAPSHOT`)
 * name removes nothing. No policy applies: a group's newest snapshot goes too when named. Names
 * are resolved against the snapshot files themselves, so a snapshot whose file cannot be read (the
 * supported way to get rid of one) is removed too and reported in `unreadable`.
 */
export async function forgetSnapshots(repo: Repository, ids: string[], opts: ForgetSnapshotsOptions = {}): Promise<ForgetSnapshotsSummary> {
  const started = performance.now()
  if (!Array.isArray(ids)) throw new InvalidOptionsError('give the snapshots to forget as an array of ids')
  for (const id of ids) {
    if (typeof id !== 'string' || !/^[0-9a-f]{1,64}$/.test(id)) {
      throw new InvalidOptionsError(`${JSON.stringify(id)} is not a snapshot id: give a full id or a prefix of one (lower-case hex)`, { id })
    }
  }
  throwIfAborted(opts.signal, 'forget')
  const names: string[] = []
  for await (const f of repo.backend.list('snapshots')) names.push(f.name)
  const named = new Set<string>()
  for (const id of ids) {
    const hits = names.filter((n) => n.startsWith(id))
    if (hits.length === 0) throw new SnapshotNotFoundError(id)
    if (hits.length > 1) throw new AmbiguousSnapshotError(id, hits.length)
    named.add(hits[0])
  }
  const found: Snapshot[] = []
  const unreadable: string[] = []
  for (const name of named) {
    try {
      found.push(await repo.findSnapshot(name))
    } catch (e) {
      if (!(e instanceof CorruptObjectError || e instanceof UnsupportedFormatError)) throw e
      unreadable.push(name)
    }
  }
  const snapshots = found.sort((a, b) => a.time.getTime() - b.time.getTime() || (a.id < b.id ? -1 : 1))
  unreadable.sort()
  const removedIds = [...snapshots.map((s) => s.id), ...unreadable]
  const dryRun = opts.dryRun ?? false
  if (!dryRun) {
    await removeSnapshots(repo, removedIds, opts)
    const gone = new Set(removedIds)
    repo.snapshotProblems = repo.snapshotProblems.filter((p) => !gone.has(p.id))
  }
  return { snapshots, unreadable, removed: removedIds.length, removedIds, dryRun, durationMs: performance.now() - started }
}

async function removeSnapshots(repo: Repository, doomed: string[], opts: { signal?: AbortSignal; onProgress?: (p: ForgetProgress) => void }): Promise<void> {
  const total = doomed.length
  let removed = 0
  opts.onProgress?.({ removed, total })
  let next = 0
  let failed = false
  const worker = async () => {
    try {
      while (next < doomed.length && !failed) {
        throwIfAborted(opts.signal, 'forget')
        const id = doomed[next++]
        await repo.backend.remove({ type: 'snapshots', name: id })
        removed++
        opts.onProgress?.({ removed, total })
      }
    } catch (e) {
      failed = true // the other workers stop after their current removal
      throw e
    }
  }
  await Promise.all(Array.from({ length: Math.min(REMOVE_CONCURRENCY, doomed.length) }, worker))
}
