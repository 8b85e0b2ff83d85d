/**
 * WorkspaceSync: the one place every adapter (the OpenClaw plugin, the CLI's `sync` commands, the
 * daemon, the dashboard) calls to keep an agent's workspace backed up. Made from a validated config
 * and a workspace, it keeps the repository open between syncs, runs one sync at a time per
 * workspace across processes (the lock in the state folder), coalesces triggers, writes the sync
 * log and the status page, applies retention, verifies a slice of the packs a day, and restores —
 * staged by default, in place only after a safety snapshot, and every in-place restore undoable.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import {
  InvalidOptionsError,
  PermissionDeniedError,
  AmbiguousSnapshotError,
  TargetError,
  isWarning,
  SnapshotNotFoundError,
  openBackend,
  Repository,
  SessionSyncError,
  type Backend,
  type BackupIssue,
  type RequestCounts,
  type Snapshot,
} from '../library.js'
import { loadWorkspaceConfig, repositoryLocation, resolveConfig, validateConfigValue, fingerprintOf, weakenings, type ConfigFingerprint, type ResolvedSyncConfig, type SyncConfigInput } from './config.js'
import { KeyMissingError, NotConfiguredError, RestoreNotFoundError, StorageUnreachableError } from './errors.js'
import { type LockHolder, WorkspaceLock } from './lock.js'
import { SyncLog, type SyncLogEntry } from './log.js'
import { applyInPlace, diffAgainstWorkspace, normalisePaths, type RestoreDiff, type ApplyCounts } from './restore.js'
import { protectionOf, versionCheckOf, versionCheckWarning, versionEventCount, type ProtectionInfo, type VersionCheck } from './protection.js'
import { deviceOf, syncRetentionPlan, type RetentionDecision } from './retention.js'
import { Scope } from './scope.js'
import { describeAlarm, shrinkAlarms, type ShrinkAlarm } from './shrink.js'
import { ChangeWatcher } from './watch.js'
import { cacheDir, deviceName, keyPath, moveOldCache, readJson, readKeyFile, stateRoot, workspaceRealPath, workspaceStateDir, writeFileAtomic, writeKeyFile } from './state.js'
import { writeStatusPage } from './status-page.js'
import { parseTimeRef, resolveTimeRef } from './time.js'
import { exportTranscripts, type TranscriptExport } from './transcripts.js'


export type SyncTrigger = 'timer' | 'wrap-up' | 'reset' | 'compaction' | 'manual' | 'restore-safety'
export const SYNC_TRIGGERS: readonly SyncTrigger[] = ['timer', 'wrap-up', 'reset', 'compaction', 'manual', 'restore-safety']

export interface WorkspaceSyncOptions {
  /** The agent's workspace folder. */
  workspace: string
  /** The agent's id (OpenClaw's agent id; default "main"). Snapshots are grouped by it. */
  agent?: string
  /** The plugin's config (the same keys as session-sync-config.json); it wins over the workspace file. */
  pluginConfig?: unknown
  /** Environment to read secrets and the state folder from (default: process.env). */
  env?: NodeJS.ProcessEnv
  /** The clock (tests inject one for retention). */
  now?: () => Date
  /** Called with every line the sync log gets (syncs, retention, verification, restores, config changes). */
  onEvent?: (entry: SyncLogEntry) => void
  /**
   * The owner's credential on a trusted device (the CLI's `sync retention`): a protected repository is
   * opened trusted, so its forget and prune may delete, each delete named first in the removal
   * journal. The storage still decides: with the agent's credential every delete is refused.
   * Never set by the plugin or the daemon.
   */
  trusted?: boolean
  /**
   * With `trusted`: the owner's private key (PEM) that signs the removal journal of a protected
   * repository recording an owner key (OpenOptions.ownerKey). Held in memory only: never written to
   * the state folder.
   */
  ownerKey?: string
  /**
   * The agent's OpenClaw database (`agents/<id>/agent/openclaw-agent.sqlite`): with `"transcripts":
   * true`, its transcripts are exported (transcripts.ts) and backed up with the workspace.
   */
  transcriptsDatabase?: string
}

/** What one sync did. */
export interface SyncSummary {
  trigger: SyncTrigger
  /** `unchanged`: nothing changed since the last snapshot, so nothing was written. */
  result: 'ok' | 'unchanged'
  snapshot?: string
  time: string
  filesNew: number
  filesChanged: number
  filesUnmodified: number
  bytesAdded: number
  bytesUploaded: number
  requests: RequestCounts
  durationMs: number
  /** Files that could not be read (the rest was backed up). */
  errors: BackupIssue[]
  /** A timer sync the watcher found nothing to do for: no walk (see ChangeWatcher). */
  watched?: boolean
  /** With "transcripts": true: what the export did, or why it could not run (the memory files were backed up either way). */
  transcripts?: ({ ok: true } & TranscriptExport) | { ok: false; code: string; message: string }
}

export interface LastSync {
  time: string
  trigger: SyncTrigger
  /** `aborted`: stopped on purpose (a cancelled call, a daemon or gateway shutting down), not a failure. */
  result: 'ok' | 'unchanged' | 'error' | 'aborted'
  snapshot?: string
  error?: { code: string; message: string }
}

export interface SyncStatus {
  configured: boolean
  enabled: boolean
  workspace: string
  agent: string
  device: string
  /** Where the backups go, without secrets. */
  location?: string
  lastSync?: LastSync
  lastSuccessAt?: string
  sinceLastSuccessMs?: number
  nextSyncAt?: string
  intervalMinutes: number
  /** This agent's snapshots per device. */
  snapshotsPerDevice: Record<string, number>
  /** Bytes the agent's kept snapshots added to storage (compressed and sealed), and the latest snapshot's size. */
  storedBytes?: number
  rawBytes?: number
  /** In-scope files new, changed or removed since the latest snapshot (an lstat walk). */
  changedSinceLastSnapshot?: { new: string[]; changed: string[]; removed: string[] }
  /** Files left out because they look like secrets. */
  secretsSkipped: string[]
  storageReachable: boolean
  /** Who runs this workspace's schedule: this process, another (a daemon, a gateway), or none. */
  schedule: ScheduleHolder
  /** Syncs that failed since the last successful one. */
  failuresInARow: number
  /** Protected history: the agent's credential is a writer's, and pruning runs from a trusted device. */
  protected?: boolean
  /** In protected mode, where pruning runs, for a person. */
  pruning?: string
  /** In protected mode: the protection the repository records (versioning, Object Lock mode and days). */
  protection?: ProtectionInfo
  /** Snapshots of this repository whose time does not fit the storage's time of their file (ids). */
  suspiciousSnapshots?: string[]
  /**
   * In protected mode: the last daily check of the storage's object versions (delete markers and
   * overwrites that no trusted prune or forget made: the signs of a compromised writer), with the
   * first few events. Absent until the first check ran (after a sync).
   */
  versionCheck?: VersionCheck
  /**
   * In protected mode: the config's changes that weaken protection and wait for the owner's
   * confirmation (`session-sync sync confirm`); until then the sync keeps the confirmed settings.
   */
  pendingConfigChange?: string[]
  warnings: string[]
}

/** Who runs a workspace's schedule (one process at a time, across processes). */
export interface ScheduleHolder {
  running: boolean
  /** This process runs it. */
  here?: boolean
  pid?: number
  host?: string
  /** What runs it, as its `start({ owner })` named itself: `daemon`, `openclaw gateway`, …. */
  owner?: string
  since?: string
}

/** What `start()` did: scheduled here, or left to the process that holds the schedule already. */
export interface ScheduleStart {
  scheduled: boolean
  /** Why not: another process runs the schedule (this one takes over when it stops). */
  heldBy?: LockHolder
  /** Why not: not configured, or disabled. */
  reason?: string
}

/** One of the agent's snapshots, as the adapters list them. */
export interface SyncSnapshot {
  id: string
  shortId: string
  time: string
  device: string
  trigger?: string
  /** Files and bytes in the snapshot, and what it added to storage. */
  files?: number
  totalBytes?: number
  bytesAdded?: number
}

export interface RestoreRequest {
  /**
   * `latest`, `latest~N`, a time (ISO with or without offset) or a relative one (`1h`, `2d`): the
   * newest snapshot at or before it. Give this or `snapshot`.
   */
  timestamp?: string
  /**
   * One of this agent's snapshots by id (or a unique prefix of at least 8 characters), instead of
   * a time: names exactly one even when several share a time.
   */
  snapshot?: string
  /** Only these paths (relative to the workspace; a folder means everything below it). */
  paths?: string[]
  /** Put the snapshot in place (after a safety snapshot) instead of staging it. */
  inPlace?: boolean
  /** Only this device's snapshots. */
  device?: string
  signal?: AbortSignal
  /** Called as the restore goes: each step, and how far it is (bytes fetched, files put in place). */
  onProgress?: (p: RestoreStepProgress) => void
  /** Time zone for times without an offset (default: the process's). */
  timeZone?: string
}

/**
 * A restore's progress: `safety` (the safety snapshot, in place only), `fetch` (the snapshot into
 * the staging folder; bytes), `compare` (with the workspace), `apply` (files put in place).
 */
export interface RestoreStepProgress {
  step: 'safety' | 'fetch' | 'compare' | 'apply'
  done: number
  total: number
}

export interface RestoreResult {
  /** The restore record's id (in place) or the staging folder's name (staged). */
  id: string
  inPlace: boolean
  snapshot: string
  snapshotTime: string
  /** How the timestamp was resolved: which snapshot, in which zone. */
  resolved: string
  /** Staged: where the files are. */
  stagingDir?: string
  /** Staged, when the snapshot holds transcripts: their folder (never put back into OpenClaw's database). */
  transcriptsDir?: string
  /** The difference between the snapshot and the workspace (before an in-place restore). */
  diff: RestoreDiff
  /** In place: the safety snapshot taken first; `undo(id)` puts it back. */
  safetySnapshot?: string
  applied?: ApplyCounts
}

export interface RestoreRecord {
  id: string
  time: string
  kind: 'restore' | 'undo'
  snapshot: string
  safetySnapshot: string
  paths?: string[]
  agent: string
  device: string
  /** For an undo: the restore it undid. */
  undoes?: string
}

export interface RetentionSummary {
  decisions: RetentionDecision[]
  removed: string[]
  pruned: boolean
  bytesFreed?: number
}

export interface VerifySummary {
  subset: string
  packsRead: number
  bytesRead: number
  problems: number
  ok: boolean
}

/** What the sync keeps between runs in the workspace's state folder (state.json). */
interface SyncState {
  lastSync?: LastSync
  lastSuccessAt?: string
  /** Newest snapshot this agent and device made: the next sync's parent. */
  parent?: string
  lastPruneAt?: string
  lastVerifyAt?: string
  /** The next slice of the packs to verify (1-based, of VERIFY_PARTS). */
  verifyPart?: number
  keyConfirmed?: boolean
  keyCreatedAt?: string
  /** The key file the secret opened last time, at which location: tried first next time. */
  lastKey?: { location: string; id: string }
  /** Syncs that failed since the last one that succeeded. */
  failuresInARow?: number
  /** The last retention run's failure, until one succeeds. */
  retentionError?: { time: string; code: string; message: string }
  /** The last verification's outcome when it found problems or failed, until one passes. */
  verifyTrouble?: { time: string; problems: number; message: string }
  /** Protected mode: the last completed check of the storage's object versions (daily, after a sync). */
  versionCheck?: VersionCheck
  /** Protected mode: the last check of the object versions that failed, until one completes. */
  versionCheckError?: { time: string; code: string; message: string }
  config?: ConfigFingerprint
  /** The config before its first change that weakened protection (status compares with it). */
  strongerConfig?: ConfigFingerprint
  /** Memory files the last sync that made a snapshot found shrunk past shrink_alarm_percent. */
  shrink?: ShrinkAlarm[]
  /**
   * In protected mode: the settings the sync runs with. A config that protects less than these
   * (see `weakenings`) waits for the owner's confirmation (`confirmConfig`); any other change is
   * taken over as it comes.
   */
  confirmedConfig?: ConfigFingerprint
}

const VERIFY_PARTS = 30
/** How often a process that does not hold the schedule tries to take it over. */
const LEASE_RETRY_MS = 60_000
const DAY_MS = 24 * 60 * 60 * 1000
const RESTORE_LOCK_WAIT_MS = 60_000
const SYNC_LOCK_WAIT_MS = 60_000
const PRUNE_WAIT_MS = 120_000

export class WorkspaceSync {
  readonly workspace: string
  readonly agent: string
  readonly device: string
  readonly config: ResolvedSyncConfig
  readonly stateRoot: string
  readonly stateDir: string
  readonly scope: Scope
  readonly syncLog: SyncLog
  /** Warnings found while loading the config (unknown keys, secrets in the workspace file…). */
  readonly configWarnings: string[]
  private readonly env: NodeJS.ProcessEnv
  private readonly now: () => Date
  private readonly clockInjected: boolean
  private readonly onEvent?: (entry: SyncLogEntry) => void
  private repo?: Repository
  private opening?: Promise<Repository>
  private backend?: Backend
  private running?: Promise<SyncSummary>
  private follow?: Promise<SyncSummary>
  private debounce?: NodeJS.Timeout
  private timer?: NodeJS.Timeout
  private nextAt?: Date
  /** The schedule's lease while this process runs the schedule. */
  private lease?: WorkspaceLock
  /** While another process holds the schedule: the timer that tries to take it over. */
  private leaseRetry?: NodeJS.Timeout
  private readonly controller = new AbortController()
  private readonly watcher: ChangeWatcher
  /** The config as written, before a weakening change waiting for confirmation was held back. */
  private readonly requestedConfig: ResolvedSyncConfig
  /** The weakening changes held back (protected mode), until the owner confirms them. */
  private pendingChange: string[] = []
  /** Opened by the owner on a trusted device (WorkspaceSyncOptions.trusted). */
  private readonly trusted: boolean
  private readonly ownerKey?: string
  private readonly transcriptsDatabase?: string

  private constructor(opts: WorkspaceSyncOptions, config: ResolvedSyncConfig, warnings: string[]) {
    this.trusted = opts.trusted === true
    if (opts.trusted && opts.ownerKey !== undefined) this.ownerKey = opts.ownerKey
    this.env = opts.env ?? process.env
    this.now = opts.now ?? (() => new Date())
    this.clockInjected = opts.now !== undefined
    this.onEvent = opts.onEvent
    this.transcriptsDatabase = opts.transcriptsDatabase
    this.workspace = workspaceRealPath(opts.workspace)
    this.agent = opts.agent ?? 'main'
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(this.agent)) throw new InvalidOptionsError(`invalid agent id "${this.agent}": use 1-64 letters, digits, ".", "_" or "-"`)
    this.configWarnings = warnings
    this.stateRoot = stateRoot(this.env)
    this.stateDir = workspaceStateDir(this.stateRoot, this.workspace)
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 })
    moveOldCache(this.stateRoot, this.stateDir)
    this.requestedConfig = config
    this.config = this.confirmedOrRequested(config)
    this.device = this.config.device ?? deviceName(this.stateRoot)
    this.scope = new Scope(this.workspace, { include: this.config.include, exclude: this.config.exclude })
    this.syncLog = new SyncLog(this.workspace)
    this.watcher = new ChangeWatcher(this.scope)
  }

  /**
   * Loads and validates the config (the plugin's, then the workspace's session-sync-config.json)
   * and returns a sync for the workspace. Does not touch the storage: an unconfigured workspace
   * gives a sync whose status says so.
   */
  static create(opts: WorkspaceSyncOptions): WorkspaceSync {
    let stat
    try {
      stat = statSync(opts.workspace)
    } catch {
      throw new InvalidOptionsError(`the workspace ${opts.workspace} does not exist; give the agent's workspace folder (--workspace or OPENCLAW_WORKSPACE_DIR)`)
    }
    if (!stat.isDirectory()) throw new InvalidOptionsError(`the workspace ${opts.workspace} is not a folder`)
    const warnings: string[] = []
    let plugin: SyncConfigInput | undefined
    if (opts.pluginConfig !== undefined) {
      const v = validateConfigValue(opts.pluginConfig, 'plugin config')
      plugin = v.value
      warnings.push(...v.warnings)
    }
    const file = loadWorkspaceConfig(opts.workspace)
    if (file) warnings.push(...file.warnings)
    const config = resolveConfig({ plugin, workspace: file?.value, workspaceDir: workspaceRealPath(opts.workspace) })
    warnings.push(...config.warnings)
    return new WorkspaceSync(opts, config, warnings)
  }

  get configured(): boolean {
    return this.config.provider !== undefined
  }

  private get statePath(): string {
    return join(this.stateDir, 'state.json')
  }

  private readState(): SyncState {
    return readJson<SyncState>(this.statePath, {})
  }

  private updateState(change: (s: SyncState) => void): SyncState {
    const s = this.readState()
    change(s)
    writeFileAtomic(this.statePath, JSON.stringify(s, null, 1))
    return s
  }

  private location(): ReturnType<typeof repositoryLocation> {
    if (!this.configured) throw new NotConfiguredError('no provider is set')
    return repositoryLocation(this.config)
  }

  private openStorage(): Backend {
    if (!this.backend) {
      const loc = this.location()
      const s3 = { ...loc.s3 }
      // The environment's credentials (the SDK's chain reads process.env; this sync may have its own
      // env) come after the plugin's and before the workspace file's.
      const fromEnv = this.env.AWS_ACCESS_KEY_ID && this.env.AWS_SECRET_ACCESS_KEY
      if (fromEnv && (!s3.credentials || this.config.secretSources.keyId === 'workspace')) {
        s3.credentials = { accessKeyId: this.env.AWS_ACCESS_KEY_ID!, secretAccessKey: this.env.AWS_SECRET_ACCESS_KEY!, sessionToken: this.env.AWS_SESSION_TOKEN }
      }
      if (!s3.credentials && this.env.AWS_PROFILE) s3.profile = this.env.AWS_PROFILE
      this.backend = openBackend(loc.location, { s3, env: this.env })
    }
    return this.backend
  }

  /** Where the repository key comes from, first match wins (see the README's configuration section). */
  private secret(): { password?: string; key?: Uint8Array; source: string } | undefined {
    const c = this.config
    if (c.secretSources.encryptionKey === 'plugin' && c.secrets.encryptionKey) return { key: c.secrets.encryptionKey, source: 'plugin config' }
    if (c.secretSources.passphrase === 'plugin' && c.secrets.passphrase) return { password: c.secrets.passphrase, source: 'plugin config' }
    if (this.env.SESSION_SYNC_KEY) {
      const key = Buffer.from(this.env.SESSION_SYNC_KEY.trim(), 'base64')
      if (key.length !== 32) throw new InvalidOptionsError('SESSION_SYNC_KEY must be 32 bytes, base64-encoded (44 characters)')
      return { key, source: 'SESSION_SYNC_KEY' }
    }
    if (this.env.SESSION_SYNC_PASSWORD) return { password: this.env.SESSION_SYNC_PASSWORD, source: 'SESSION_SYNC_PASSWORD' }
    const stored = readKeyFile(this.keyFile())
    if (stored) return { key: stored, source: 'state folder' }
    if (c.secrets.encryptionKey) return { key: c.secrets.encryptionKey, source: 'workspace config' }
    if (c.secrets.passphrase) return { password: c.secrets.passphrase, source: 'workspace config' }
    return undefined
  }

  /** The generated key's file for this repository location. */
  keyFile(): string {
    return keyPath(this.stateRoot, this.location().location)
  }

  /** Opens the repository once and keeps it open. */
  repository(): Promise<Repository> {
    if (this.repo) return Promise.resolve(this.repo)
    this.opening ??= (async () => {
      const secret = this.secret()
      if (!secret) {
        throw new KeyMissingError(
          `set SESSION_SYNC_KEY (the key "session-sync sync key --show" prints on the first device) or SESSION_SYNC_PASSWORD, or run "session-sync sync init" on a new repository`,
        )
      }
      try {
        const location = this.location().describe
        const last = this.readState().lastKey
        const repo = await Repository.open({ backend: this.openStorage(), password: secret.password, key: secret.key, preferKeyId: last?.location === location ? last.id : undefined, cacheDir: cacheDir(this.stateRoot, this.stateDir), ...(this.trusted ? { trusted: true } : {}), ...(this.ownerKey !== undefined ? { ownerKey: this.ownerKey } : {}) })
        if (last?.id !== repo.keyId || last.location !== location) {
          this.updateState((s) => {
            s.lastKey = { location, id: repo.keyId }
          })
        }
        this.repo = repo
        return repo
      } catch (e) {
        throw unreachable(e, this.location().describe)
      }
    })().finally(() => {
      this.opening = undefined
    })
    return this.opening
  }

  // ---- init and keys ----------------------------------------------------------------------------

  /**
   * Creates the repository when the location holds none, with a generated key kept in the state
   * folder (0600), unless a key or passphrase is given by the environment or the config. When the
   * location already holds one (a second device), it only opens it with the key given, and keeps
   * a given raw key in the state folder; it never creates a new key.
   */
  async init(): Promise<{ created: boolean; location: string; keyFile?: string; keySource: string; repositoryId: string }> {
    const storage = this.openStorage()
    const loc = this.location()
    let exists: boolean
    try {
      await storage.stat({ type: 'config', name: 'config' })
      exists = true
    } catch (e) {
      if ((e as SessionSyncError).code !== 'OBJECT_NOT_FOUND') throw unreachable(e, loc.describe)
      exists = false
    }
    const secret = this.secret()
    if (exists) {
      if (!secret) {
        throw new KeyMissingError(
          `${loc.describe} already holds a repository: give its key (SESSION_SYNC_KEY, printed by "session-sync sync key --show" on the first device) or its passphrase (SESSION_SYNC_PASSWORD). A new key is never created for an existing repository.`,
        )
      }
      const repo = await this.repository()
      let keyFile: string | undefined
      if (secret.key && secret.source !== 'state folder' && !readKeyFile(this.keyFile())) {
        writeKeyFile(this.keyFile(), secret.key)
        keyFile = this.keyFile()
        this.updateState((s) => {
          s.keyConfirmed = true // it came from elsewhere, so a copy exists
        })
      }
      return { created: false, location: loc.describe, keyFile, keySource: secret.source, repositoryId: repo.id }
    }
    let key: Uint8Array | undefined
    let keyFile: string | undefined
    if (!secret) {
      keyFile = this.keyFile()
      try {
        key = randomBytes(32)
        writeKeyFile(keyFile, key)
        this.updateState((s) => {
          s.keyConfirmed = false
          s.keyCreatedAt = this.now().toISOString()
        })
      } catch (e) {
        // Another process generated this location's key first: that one is the key.
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
        key = readKeyFile(keyFile)
        if (!key) throw new KeyMissingError(`${keyFile} is being written by another process, or is damaged: run "session-sync sync init" again`)
      }
    }
    try {
      this.repo = await Repository.init({ backend: storage, password: secret?.password, key: key ?? secret?.key, cacheDir: cacheDir(this.stateRoot, this.stateDir), ...(this.config.protect ? { protect: true } : {}) })
    } catch (e) {
      // A generated key is never removed here: the repository may exist with it all the same (a
      // reply lost after the write, or another process that created it first with this key).
      // Another process that created it at the same time with this key: open it.
      if ((e as SessionSyncError).code === 'REPOSITORY_EXISTS' || (await storage.stat({ type: 'config', name: 'config' }).then(() => true, () => false))) {
        try {
          const repo = await this.repository()
          return { created: false, location: loc.describe, keySource: secret?.source ?? 'state folder', repositoryId: repo.id }
        } catch {
          // not one this key opens: the creation's own error says more
        }
      }
      throw unreachable(e, loc.describe)
    }
    return { created: true, location: loc.describe, keyFile, keySource: secret?.source ?? 'generated', repositoryId: this.repo.id }
  }

  /** The generated key (base64), for the user to keep a copy off this machine. */
  showKey(): string {
    const key = readKeyFile(this.keyFile())
    if (!key) throw new KeyMissingError(`no key is kept in the state folder for ${this.location().describe}; the key or passphrase comes from the environment or the config`)
    return Buffer.from(key).toString('base64')
  }

  /** Records that the user has kept a copy of the key, so status stops warning. */
  confirmKeySaved(): void {
    this.updateState((s) => {
      s.keyConfirmed = true
    })
  }

  /** Adds a memorable passphrase that opens the repository too; returns the new key file's id. */
  async addPassphrase(passphrase: string): Promise<string> {
    if (passphrase.length < 8) throw new InvalidOptionsError('a passphrase needs at least 8 characters')
    return (await this.repository()).addKey({ password: passphrase })
  }

  // ---- syncing ----------------------------------------------------------------------------------

  /**
   * Syncs now. One sync at a time: a call during a sync waits for it and then runs exactly one
   * more, shared by every call that arrived meanwhile.
   */
  syncNow(opts: { trigger?: SyncTrigger; signal?: AbortSignal } = {}): Promise<SyncSummary> {
    if (!this.running) return this.startSync(opts)
    this.follow ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.follow = undefined
        return this.startSync(opts)
      })
    return this.follow
  }

  /**
   * Asks for a sync soon: triggers within the debounce window (debounce_seconds, default 5) become
   * one; one arriving during a sync causes exactly one more after it. Errors go to the log.
   */
  trigger(trigger: SyncTrigger): void {
    if (this.debounce) return
    this.debounce = setTimeout(() => {
      this.debounce = undefined
      this.syncNow({ trigger, signal: this.controller.signal }).catch(() => undefined)
    }, this.config.debounceSeconds * 1000)
    this.debounce.unref?.()
  }

  /**
   * Runs the schedule: a sync every interval_minutes, and a catch-up sync at once when the last
   * successful one is older than that. One process at a time runs a workspace's schedule (a lease in
   * the state folder, taken over when its holder is gone): when another does (the daemon, a
   * gateway), this one does not schedule, retries every minute, and takes over when that one stops.
   * Triggers and calls work either way. The timers do not keep the process alive by themselves.
   */
  start(opts: { owner?: string } = {}): ScheduleStart {
    if (this.timer || this.leaseRetry) return this.lease ? { scheduled: true } : { scheduled: false, heldBy: WorkspaceLock.holder(this.leasePath) }
    if (!this.configured) return { scheduled: false, reason: 'not configured' }
    if (!this.config.enabled) return { scheduled: false, reason: 'syncing is disabled ("enabled": false)' }
    const owner = opts.owner ?? 'this process'
    const got = WorkspaceLock.tryAcquire(this.leasePath, 'the schedule', owner)
    if (!(got instanceof WorkspaceLock)) {
      this.leaseRetry = setTimeout(() => {
        this.leaseRetry = undefined
        this.start(opts)
      }, Math.min(this.config.intervalMinutes * 60_000, LEASE_RETRY_MS))
      this.leaseRetry.unref?.()
      return { scheduled: false, heldBy: got }
    }
    this.lease = got
    this.watcher.start()
    const interval = this.config.intervalMinutes * 60_000
    const last = this.readState().lastSuccessAt
    const due = last ? Date.parse(last) + interval - this.now().getTime() : 0
    const schedule = (ms: number) => {
      this.nextAt = new Date(this.now().getTime() + ms)
      this.timer = setTimeout(() => {
        if (!this.lease?.held()) {
          // Taken over (this process stalled past the lease's staleness): leave it to the new holder.
          this.unschedule()
          this.start(opts)
          return
        }
        schedule(interval)
        this.syncNow({ trigger: 'timer', signal: this.controller.signal }).catch(() => undefined)
      }, Math.max(0, ms))
      this.timer.unref?.()
    }
    schedule(Math.max(0, Math.min(due, interval)))
    return { scheduled: true }
  }

  private get leasePath(): string {
    return join(this.stateDir, 'schedule.lock')
  }

  private unschedule(): void {
    clearTimeout(this.timer)
    clearTimeout(this.leaseRetry)
    this.watcher.stop()
    this.timer = this.leaseRetry = undefined
    this.nextAt = undefined
    this.lease?.release()
    this.lease = undefined
  }

  /** The exported transcripts: `transcripts/<agent>/<session>.jsonl` in a snapshot. */
  private get transcriptsDir(): string {
    return join(this.stateDir, 'transcripts')
  }

  /**
   * With "transcripts": true and the agent's database given: brings the JSONL export up to date.
   * Never throws: the memory files are backed up whatever happens here.
   */
  private exportTranscripts(): SyncSummary['transcripts'] {
    if (!this.config.transcripts || !this.transcriptsDatabase) return undefined
    try {
      if (!existsSync(this.transcriptsDatabase)) return { ok: false, code: 'SOURCE_ERROR', message: `no agent database at ${this.transcriptsDatabase} yet: no transcripts to back up` }
      const r = exportTranscripts({ database: this.transcriptsDatabase, outDir: join(this.transcriptsDir, this.agent), stateFile: join(this.stateDir, 'transcripts-export.json') })
      return { ok: true, ...r }
    } catch (e) {
      return { ok: false, ...errorOf(e) }
    }
  }

  /**
   * The backup options that add the transcripts folder beside the workspace: its files are kept by
   * an include that is relative to every source, so an exclude anchored at the workspace's own
   * folder keeps the same include from taking workspace files. Undefined when the two folders
   * would have the same name in the snapshot.
   */
  private transcriptSource(): { includes: string[]; excludes: string[] } | undefined {
    const wsName = basename(this.workspace)
    if (wsName === basename(this.transcriptsDir)) return undefined
    return { includes: [`${this.agent}/*.jsonl`], excludes: [`/${wsName.replace(/[\\*?[\]!#]/g, '\\$&')}/${this.agent}/*.jsonl`] }
  }

  /** Stops the schedule (giving up its lease), aborts a running sync, and closes the repository. */
  async stop(): Promise<void> {
    this.unschedule()
    clearTimeout(this.debounce)
    this.debounce = undefined
    this.controller.abort()
    await Promise.allSettled([this.running, this.follow])
    await this.close()
  }

  /** Closes the repository (the next call opens it again). */
  async close(): Promise<void> {
    const repo = this.repo
    this.repo = undefined
    await repo?.close()
    await this.backend?.close?.()
    this.backend = undefined
  }

  private startSync(opts: { trigger?: SyncTrigger; signal?: AbortSignal }): Promise<SyncSummary> {
    const p = this.runSync(opts.trigger ?? 'manual', opts.signal).finally(() => {
      if (this.running === p) this.running = undefined
    })
    this.running = p
    return p
  }

  private async runSync(trigger: SyncTrigger, signal?: AbortSignal): Promise<SyncSummary> {
    if (!this.configured) throw new NotConfiguredError('no provider is set')
    if (!this.config.enabled && trigger === 'timer') throw new InvalidOptionsError('syncing is disabled in the config ("enabled": false)')
    // The watcher sees the workspace only: with transcripts, every sync looks at the database too.
    if (trigger === 'timer' && this.watcher.quiet() && !(this.config.transcripts && this.transcriptsDatabase)) return this.quietSync(trigger)
    const lock = await WorkspaceLock.acquire(join(this.stateDir, 'lock'), `sync (${trigger})`, { waitMs: SYNC_LOCK_WAIT_MS, signal })
    let summary: SyncSummary
    try {
      summary = await this.backupLocked(trigger, signal)
    } finally {
      lock.release()
    }
    if (trigger !== 'restore-safety') await this.afterSync(signal)
    return summary
  }

  /**
   * A timer sync while the watcher saw nothing change since a recent walk: the workspace is as the
   * last snapshot has it, so nothing is read or written (but the log line and the state, as ever).
   */
  private async quietSync(trigger: SyncTrigger): Promise<SyncSummary> {
    const started = performance.now()
    const state = this.readState()
    const summary: SyncSummary = {
      trigger,
      result: 'unchanged',
      snapshot: state.parent,
      time: this.now().toISOString(),
      filesNew: 0,
      filesChanged: 0,
      filesUnmodified: 0,
      bytesAdded: 0,
      bytesUploaded: 0,
      requests: { GET: 0, PUT: 0, LIST: 0, DELETE: 0, HEAD: 0, bytesUp: 0, bytesDown: 0 },
      durationMs: 0,
      errors: [],
      watched: true,
    }
    this.updateState((s) => {
      s.lastSync = { time: summary.time, trigger, result: 'unchanged', snapshot: summary.snapshot }
      s.lastSuccessAt = summary.time
      s.failuresInARow = 0
    })
    summary.durationMs = Math.round(performance.now() - started)
    this.record({ kind: 'sync', trigger, result: 'unchanged', snapshot: summary.snapshot, durationMs: summary.durationMs, detail: { watched: true } })
    await this.afterSync()
    return summary
  }

  /** One backup of the scope; the caller holds the workspace lock. */
  private async backupLocked(trigger: SyncTrigger, signal?: AbortSignal): Promise<SyncSummary> {
    const time = this.now()
    const started = performance.now()
    this.noteConfigChanges()
    const walk = this.watcher.beginWalk()
    let ok = false
    try {
      const repo = await this.repository()
      const state = this.readState()
      let parent: string | false = false
      if (state.parent) {
        try {
          parent = (await repo.findSnapshot(state.parent)).id
        } catch (e) {
          if ((e as SessionSyncError).code !== 'SNAPSHOT_NOT_FOUND') throw e
        }
      }
      if (parent === false) parent = (await this.ownSnapshots(repo)).filter((s) => s.tags.includes(`device:${this.device}`)).at(-1)?.id ?? false
      const transcripts = this.exportTranscripts()
      const extra = transcripts?.ok || existsSync(this.transcriptsDir) ? this.transcriptSource() : undefined
      const b = await repo.backup([this.workspace, ...(extra ? [this.transcriptsDir] : [])], {
        includes: [...this.scope.includes, ...(extra?.includes ?? [])],
        excludes: [...this.scope.excludes, ...(extra?.excludes ?? [])],
        dirTimes: false,
        host: this.device,
        tags: [`agent:${this.agent}`, `device:${this.device}`, `trigger:${trigger}`],
        parent,
        // A safety snapshot is taken even when nothing changed: the restore record names it.
        skipIfUnchanged: trigger !== 'restore-safety',
        time,
        // The time is this machine's clock (or a test's injected one), not one a user chose.
        timeGiven: this.clockInjected,
        signal,
        // Another device's prune holds the repository for seconds: wait for it rather than fail.
        lockWaitMs: PRUNE_WAIT_MS,
      })
      const summary: SyncSummary = {
        trigger,
        result: b.skipped ? 'unchanged' : 'ok',
        snapshot: b.snapshotId ?? (parent || undefined),
        time: time.toISOString(),
        filesNew: b.filesNew,
        filesChanged: b.filesChanged,
        filesUnmodified: b.filesUnmodified,
        bytesAdded: b.bytesAdded,
        bytesUploaded: b.requests.bytesUp,
        requests: b.requests,
        durationMs: Math.round(performance.now() - started),
        errors: b.errors,
        ...(transcripts ? { transcripts } : {}),
      }
      this.updateState((s) => {
        s.lastSync = { time: summary.time, trigger, result: summary.result, snapshot: summary.snapshot }
        s.lastSuccessAt = summary.time
        s.failuresInARow = 0
        if (summary.snapshot) s.parent = summary.snapshot
      })
      this.record({
        kind: 'sync',
        trigger,
        result: b.errors.length > 0 ? 'warning' : summary.result,
        snapshot: summary.snapshot,
        filesNew: b.filesNew,
        filesChanged: b.filesChanged,
        filesUnmodified: b.filesUnmodified,
        bytesAdded: b.bytesAdded,
        bytesUploaded: b.requests.bytesUp,
        requests: requestKinds(b.requests),
        durationMs: summary.durationMs,
        detail: b.errors.length > 0 ? { unreadable: b.errors.slice(0, 20) } : undefined,
      })
      // A safety snapshot records the workspace before a restore: it neither raises nor clears an alarm.
      if (b.snapshotId && parent && trigger !== 'restore-safety') await this.noteShrink(repo, parent, b.snapshotId)
      this.writePage()
      ok = true
      return summary
    } catch (e) {
      const error = errorOf(e)
      const result = error.code === 'ABORTED' ? 'aborted' : 'error'
      this.updateState((s) => {
        s.lastSync = { time: time.toISOString(), trigger, result, error }
        if (result === 'error') s.failuresInARow = (s.failuresInARow ?? 0) + 1
      })
      this.record({ kind: 'sync', trigger, result, durationMs: Math.round(performance.now() - started), error })
      this.writePage()
      throw e
    } finally {
      this.watcher.walked(walk, ok)
    }
  }

  /** After a sync: retention and its prune once a day, and the day's slice of verification. */
  private async afterSync(signal?: AbortSignal): Promise<void> {
    const s = this.readState()
    const now = this.now().getTime()
    try {
      // A protected sync's credential cannot delete: retention and prune run from a trusted device.
      if (!this.config.protect && (!s.lastPruneAt || now - Date.parse(s.lastPruneAt) >= DAY_MS)) await this.applyRetention({ signal })
      if (!s.lastVerifyAt || now - Date.parse(s.lastVerifyAt) >= DAY_MS) await this.verify({ signal })
    } catch {
      // logged by each; a failed maintenance step never fails the sync that preceded it
    }
    // Protected: whether anyone deleted or overwrote what the writers never delete nor overwrite
    // (also when the verification failed: a deleted file is a likely cause).
    try {
      if (this.config.protect && !signal?.aborted && (!s.versionCheck || now - Date.parse(s.versionCheck.time) >= DAY_MS)) await this.checkVersions({ signal })
    } catch {
      // logged; kept in the state for status
    }
  }

  /**
   * Reloads the index when other writers (another device, a prune) changed it since it was loaded:
   * a restore or a status of their snapshots needs their trees. One LIST.
   */
  private async freshIndex(repo: Repository): Promise<void> {
    const loaded = new Set(repo.loadedIndexFiles())
    let same = true
    let count = 0
    for await (const f of repo.backend.list('index')) {
      count++
      if (!loaded.has(f.name)) same = false
    }
    if (!same || count !== loaded.size) repo.invalidateIndex()
  }

  /** This agent's snapshots on every device, oldest first. */
  private async ownSnapshots(repo: Repository): Promise<Snapshot[]> {
    return repo.snapshots({ tags: [`agent:${this.agent}`] })
  }

  // ---- restore and undo -------------------------------------------------------------------------

  /**
   * Restores the newest snapshot at or before `timestamp` across this agent's devices (`device`
   * narrows it), or the one `snapshot` names by its id. Staged (default): into a fresh folder under the state folder, returning how it
   * differs from the workspace. In place: a restore-safety snapshot first, then the scope (or the
   * chosen paths) is made equal to the snapshot; on failure or cancellation it is rolled back to
   * the safety snapshot. Returns a record id that `undo` takes.
   */
  async restore(req: RestoreRequest): Promise<RestoreResult> {
    if ((req.snapshot === undefined) === (req.timestamp === undefined)) throw new InvalidOptionsError('name the snapshot to restore by a time (timestamp) or by its id (snapshot), one of the two')
    const paths = normalisePaths(req.paths)
    const lock = await WorkspaceLock.acquire(join(this.stateDir, 'lock'), req.inPlace ? 'restore' : 'staged restore', { waitMs: RESTORE_LOCK_WAIT_MS, signal: req.signal })
    try {
      const repo = await this.repository()
      await this.freshIndex(repo)
      let own = await this.ownSnapshots(repo)
      if (req.device) own = own.filter((s) => deviceOf(s) === req.device)
      if (own.length === 0) throw new SnapshotNotFoundError(req.device ? `any snapshot of agent ${this.agent} on device ${req.device}` : `any snapshot of agent ${this.agent}`)
      const { snapshot, description } = req.snapshot !== undefined ? snapshotById(req.snapshot, own) : resolveTimeRef(parseTimeRef(req.timestamp!, { now: this.now(), timeZone: req.timeZone }), own)
      if (!req.inPlace) return await this.stage(repo, snapshot, description, paths, req.signal, req.onProgress)
      return await this.putInPlace(repo, snapshot, description, paths, 'restore', req.signal, undefined, req.onProgress)
    } finally {
      lock.release()
    }
  }

  /**
   * Puts the workspace back as it was before an in-place restore (or undo): its safety snapshot,
   * in place, over the same paths, after a safety snapshot of its own, so an undo can be undone.
   */
  async undo(restoreId: string, opts: { signal?: AbortSignal; onProgress?: (p: RestoreStepProgress) => void } = {}): Promise<RestoreResult> {
    const record = this.restoreRecord(restoreId)
    const lock = await WorkspaceLock.acquire(join(this.stateDir, 'lock'), 'undo', { waitMs: RESTORE_LOCK_WAIT_MS, signal: opts.signal })
    try {
      const repo = await this.repository()
      await this.freshIndex(repo)
      const snapshot = await repo.findSnapshot(record.safetySnapshot)
      return await this.putInPlace(repo, snapshot, `the state before ${record.kind} ${record.id} (safety snapshot ${snapshot.shortId})`, record.paths, 'undo', opts.signal, record.id, opts.onProgress)
    } finally {
      lock.release()
    }
  }

  /** The in-place restores and undos recorded for this workspace, newest first. */
  restores(): RestoreRecord[] {
    let names: string[] = []
    try {
      names = readdirSync(join(this.stateDir, 'restores')).filter((n) => n.endsWith('.json'))
    } catch {
      // none yet
    }
    return names
      .map((n) => readJson<RestoreRecord | undefined>(join(this.stateDir, 'restores', n), undefined))
      .filter((r): r is RestoreRecord => r !== undefined)
      .sort((a, b) => b.time.localeCompare(a.time))
  }

  private restoreRecord(id: string): RestoreRecord {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new RestoreNotFoundError(id)
    const r = readJson<RestoreRecord | undefined>(join(this.stateDir, 'restores', `${id}.json`), undefined)
    if (!r) throw new RestoreNotFoundError(id)
    return r
  }

  /** Restores a snapshot into a new staging folder; returns the folder and the snapshot's root in it. */
  private async restoreToStaging(repo: Repository, snapshot: Snapshot, id: string, paths: string[] | undefined, signal?: AbortSignal, onProgress?: (p: RestoreStepProgress) => void): Promise<{ dir: string; root: string }> {
    const dir = join(this.stateDir, 'staging', id)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const name = rootName(snapshot)
    const include = paths?.flatMap((p) => [`${name}/${p}`, `${name}/${p}/**`])
    onProgress?.({ step: 'fetch', done: 0, total: 0 })
    const summary = await repo.restore(snapshot.id, dir, { include, signal, onProgress: onProgress && ((p) => onProgress({ step: 'fetch', done: p.bytesDone, total: p.totalBytes })), progressIntervalMs: onProgress ? 200 : undefined })
    // A staging folder missing files must never be put in place: an in-place apply would delete them.
    if (summary.errors.length > 0) throw new TargetError(summary.errors[0].path, new Error(`${summary.errors.length} file(s) could not be restored into the staging folder: ${summary.errors[0].message}`))
    return { dir, root: join(dir, name) }
  }

  private async stage(repo: Repository, snapshot: Snapshot, description: string, paths: string[] | undefined, signal?: AbortSignal, onProgress?: (p: RestoreStepProgress) => void): Promise<RestoreResult> {
    await this.removeOldStaging()
    const id = `staged-${stamp(this.now())}-${randomBytes(3).toString('hex')}`
    const { dir, root } = await this.restoreToStaging(repo, snapshot, id, paths, signal, onProgress)
    onProgress?.({ step: 'compare', done: 0, total: 1 })
    const diff = await diffAgainstWorkspace(this.scope, root, paths)
    // Transcripts are restored here only, for reading: never into OpenClaw's live database.
    const transcripts = join(dir, basename(this.transcriptsDir))
    const transcriptsDir = snapshot.paths.length > 1 && existsSync(transcripts) ? transcripts : undefined
    this.record({ kind: 'restore', result: 'ok', snapshot: snapshot.id, detail: { staged: true, id, added: diff.added.length, changed: diff.changed.length, removed: diff.removed.length } })
    return { id, inPlace: false, snapshot: snapshot.id, snapshotTime: snapshot.time.toISOString(), resolved: description, stagingDir: root, ...(transcriptsDir ? { transcriptsDir } : {}), diff }
  }

  private async putInPlace(repo: Repository, snapshot: Snapshot, description: string, paths: string[] | undefined, kind: 'restore' | 'undo', signal?: AbortSignal, undoes?: string, onProgress?: (p: RestoreStepProgress) => void): Promise<RestoreResult> {
    const id = `${kind}-${stamp(this.now())}-${randomBytes(3).toString('hex')}`
    onProgress?.({ step: 'safety', done: 0, total: 1 })
    const safety = await this.backupLocked('restore-safety', signal)
    const staging = await this.restoreToStaging(repo, snapshot, id, paths, signal, onProgress)
    onProgress?.({ step: 'compare', done: 0, total: 1 })
    const diff = await diffAgainstWorkspace(this.scope, staging.root, paths)
    let applied: ApplyCounts
    try {
      applied = await applyInPlace(this.scope, staging.root, paths, signal, onProgress && ((done, total) => onProgress({ step: 'apply', done, total })))
    } catch (e) {
      // Roll back to the safety snapshot (not cancellable: the workspace must not stay half-restored).
      try {
        const back = await this.restoreToStaging(repo, await repo.findSnapshot(safety.snapshot!), `${id}-rollback`, paths)
        await applyInPlace(this.scope, back.root, paths)
        await rm(back.dir, { recursive: true, force: true })
      } catch (rollbackError) {
        this.record({ kind, result: 'error', snapshot: snapshot.id, error: errorOf(rollbackError), detail: { id, rollback: 'failed', safetySnapshot: safety.snapshot } })
      }
      this.record({ kind, result: 'error', snapshot: snapshot.id, error: errorOf(e), detail: { id, rolledBackTo: safety.snapshot } })
      throw e
    } finally {
      await rm(staging.dir, { recursive: true, force: true })
    }
    const record: RestoreRecord = { id, time: this.now().toISOString(), kind, snapshot: snapshot.id, safetySnapshot: safety.snapshot!, paths, agent: this.agent, device: this.device, undoes }
    mkdirSync(join(this.stateDir, 'restores'), { recursive: true, mode: 0o700 })
    writeFileAtomic(join(this.stateDir, 'restores', `${id}.json`), JSON.stringify(record, null, 1))
    this.record({ kind, result: 'ok', snapshot: snapshot.id, detail: { id, safetySnapshot: safety.snapshot, undoes, ...applied } })
    this.writePage()
    return { id, inPlace: true, snapshot: snapshot.id, snapshotTime: snapshot.time.toISOString(), resolved: description, diff, safetySnapshot: safety.snapshot, applied }
  }

  /** Staging folders older than a week go (a user may still be looking at a recent one). */
  private async removeOldStaging(): Promise<void> {
    const dir = join(this.stateDir, 'staging')
    let names: string[] = []
    try {
      names = readdirSync(dir)
    } catch {
      return
    }
    for (const n of names) {
      try {
        if (this.now().getTime() - statSync(join(dir, n)).mtimeMs > 7 * DAY_MS) await rm(join(dir, n), { recursive: true, force: true })
      } catch {
        // gone meanwhile
      }
    }
  }

  // ---- retention and verification ---------------------------------------------------------------

  /**
   * Applies the retention rule to this agent's snapshots (never another agent's), then prunes the
   * repository so the space is freed. Runs at most once a day after a sync; callable any time.
   */
  async applyRetention(opts: { signal?: AbortSignal; dryRun?: boolean } = {}): Promise<RetentionSummary> {
    const lock = await WorkspaceLock.acquire(join(this.stateDir, 'lock'), 'retention', { waitMs: SYNC_LOCK_WAIT_MS, signal: opts.signal })
    try {
      const repo = await this.repository()
      const decisions = syncRetentionPlan(repo, await this.ownSnapshots(repo), { now: this.now(), retentionDays: this.config.retentionDays })
      const remove = decisions.filter((d) => !d.keep).map((d) => d.id)
      const summary: RetentionSummary = { decisions, removed: [], pruned: false }
      if (opts.dryRun) return { ...summary, removed: remove }
      try {
        if (remove.length > 0) {
          summary.removed = (await repo.forgetSnapshots(remove, { signal: opts.signal })).removedIds
          const pruned = await repo.prune({ signal: opts.signal })
          summary.pruned = true
          summary.bytesFreed = pruned.bytesFreed
        }
        this.updateState((s) => {
          s.lastPruneAt = this.now().toISOString()
          s.retentionError = undefined
        })
        this.record({ kind: 'retention', result: 'ok', detail: { kept: decisions.filter((d) => d.keep).map((d) => `${d.id.slice(0, 8)}: ${d.reason}`), removed: summary.removed.map((r) => r.slice(0, 8)), bytesFreed: summary.bytesFreed } })
        return summary
      } catch (e) {
        const error = errorOf(e)
        if (error.code !== 'ABORTED') {
          this.updateState((s) => {
            s.retentionError = { time: this.now().toISOString(), code: error.code, message: error.message }
          })
        }
        this.record({ kind: 'retention', result: 'error', error })
        throw e
      }
    } finally {
      lock.release()
    }
  }

  /**
   * Reads and verifies the day's slice of the packs (1/30 of them, rotating, so a month reads them
   * all), as `check --read-data-subset n/30` does, and logs the result.
   */
  async verify(opts: { signal?: AbortSignal } = {}): Promise<VerifySummary> {
    const part = this.readState().verifyPart ?? 1
    const subset = `${part}/${VERIFY_PARTS}`
    try {
      const repo = await this.repository()
      const report = await repo.check({ readDataSubset: subset, signal: opts.signal })
      const problems = report.problems.filter((p) => !isWarning(p.kind)).length
      const summary: VerifySummary = { subset, packsRead: report.counts.packsRead, bytesRead: report.counts.bytesRead, problems, ok: problems === 0 }
      this.updateState((s) => {
        s.lastVerifyAt = this.now().toISOString()
        s.verifyPart = (part % VERIFY_PARTS) + 1
        s.verifyTrouble = summary.ok ? undefined : { time: s.lastVerifyAt, problems, message: report.problems.find((p) => !isWarning(p.kind))?.message ?? 'problems found' }
      })
      this.record({ kind: 'verify', result: summary.ok ? 'ok' : 'error', detail: { ...summary, problems: report.problems.slice(0, 20).map((p) => p.message) } })
      return summary
    } catch (e) {
      const error = errorOf(e)
      if (error.code !== 'ABORTED') {
        this.updateState((s) => {
          s.verifyTrouble = { time: this.now().toISOString(), problems: 0, message: error.message }
        })
      }
      this.record({ kind: 'verify', result: 'error', error, detail: { subset } })
      throw e
    }
  }

  /**
   * The retention plan over this agent's snapshots (`snapshots`, or listed now): what applyRetention
   * keeps and removes, and why, judged as it judges (by storage times in a protected repository).
   * The dashboard shows this plan.
   */
  async retentionPlan(snapshots?: Snapshot[]): Promise<RetentionDecision[]> {
    const repo = await this.repository()
    return syncRetentionPlan(repo, snapshots ?? (await this.ownSnapshots(repo)), { now: this.now(), retentionDays: this.config.retentionDays })
  }

  /**
   * Protected mode: lists the storage's object versions and keeps, in the workspace state, the
   * delete markers and overwrites no trusted operation made (`Repository.checkVersions`; reads only).
   * Runs at most once a day after a sync; callable any time. Storage that keeps no versions is noted
   * (`unavailable`), not a failure.
   */
  async checkVersions(opts: { signal?: AbortSignal } = {}): Promise<VersionCheck> {
    try {
      const repo = await this.repository()
      opts.signal?.throwIfAborted()
      let check: VersionCheck
      try {
        check = versionCheckOf(await repo.checkVersions(), this.now())
      } catch (e) {
        if (errorOf(e).code !== 'NO_VERSIONS') throw e
        check = { time: this.now().toISOString(), unexplainedDeletes: 0, overwrites: 0, events: [], versionsListed: 0, unavailable: errorOf(e).message }
      }
      this.updateState((s) => {
        s.versionCheck = check
        s.versionCheckError = undefined
      })
      const found = versionEventCount(check)
      this.record({ kind: 'versions', result: found > 0 ? 'error' : check.unavailable ? 'warning' : 'ok', detail: { unexplainedDeletes: check.unexplainedDeletes, overwrites: check.overwrites, forgedRecords: check.forgedRecords ?? 0, versionsListed: check.versionsListed, events: check.events, ...(check.unavailable ? { unavailable: check.unavailable } : {}) } })
      return check
    } catch (e) {
      const error = errorOf(e)
      if (error.code !== 'ABORTED') {
        this.updateState((s) => {
          s.versionCheckError = { time: this.now().toISOString(), code: error.code, message: error.message }
        })
      }
      this.record({ kind: 'versions', result: 'error', error })
      throw e
    }
  }

  // ---- protected mode: confirmation of weaker settings -----------------------------------------

  /**
   * The settings to run with. Outside protected mode, the config as written. Once a protected config
   * was seen, it is the confirmed one: a later config that protects less (protect off, syncing off,
   * memory excluded, a shorter retention, another destination) is held back, named in status, and
   * the confirmed settings stay in force until the owner confirms; any other change is taken over.
   */
  private confirmedOrRequested(config: ResolvedSyncConfig): ResolvedSyncConfig {
    const fp = fingerprintOf(config)
    const confirmed = this.readState().confirmedConfig
    if (confirmed?.protect) {
      const weaker = weakenings(confirmed, fp)
      if (weaker.length > 0) {
        this.pendingChange = weaker
        return { ...config, ...confirmed, include: [...confirmed.include], exclude: [...confirmed.exclude] }
      }
    }
    if (fp.protect && JSON.stringify(confirmed) !== JSON.stringify(fp)) {
      this.updateState((s) => {
        s.confirmedConfig = fp
      })
    }
    return config
  }

  /**
   * The owner confirms the config's pending changes (protected mode). The proof of the owner is an
   * operation a writer's credential cannot do: a delete in the repository's storage (of a lock name
   * nothing uses, which on versioned storage leaves only a delete marker). With the agent's writer
   * credential it fails with PERMISSION_DENIED and nothing changes; so the agent, which can edit the
   * config, cannot confirm its own weakening. Run it from the CLI with the owner's credential in the
   * environment (AWS_ACCESS_KEY_ID …), against the storage the confirmed settings name.
   */
  async confirmConfig(): Promise<{ confirmed: string[] }> {
    if (this.pendingChange.length === 0) return { confirmed: [] }
    const storage = this.openStorage()
    const probe = { type: 'locks' as const, name: createHash('sha256').update(randomBytes(32)).digest('hex') }
    // Named first in the removal journal, as a trusted operation's deletes are, so the agent's daily
    // check of the object versions does not take the probe's delete marker for a compromised
    // writer's. A repository that records an owner key wants it here, as "sync retention" does (the
    // record is signed with it); without it nothing is done. Without the repository's key (or when
    // the repository cannot be opened) the probe still proves the owner; its marker is then
    // reported. A writer's attempt leaves a record naming only that unused name (the storage then
    // refuses the delete).
    const repo = await this.announceProbe(storage, probe)
    try {
      await storage.remove(probe)
    } catch (e) {
      const err = errorOf(e)
      throw new PermissionDeniedError(
        'confirm the config change',
        this.location().describe,
        new Error(`this credential may not delete in the repository's storage (${err.code}), so it is not the owner's: run "session-sync sync confirm" with the owner's credential (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the bucket's owner)`),
      )
    } finally {
      // Closed after the probe: closing a repository closes the storage it was opened on.
      await repo?.close().catch(() => {})
    }
    const confirmed = this.pendingChange
    const fp = fingerprintOf(this.requestedConfig)
    this.updateState((s) => {
      s.confirmedConfig = fp
    })
    for (const c of confirmed) this.record({ kind: 'config', result: 'ok', detail: { confirmed: c } })
    this.pendingChange = []
    return { confirmed }
  }

  /**
   * Names the confirmation's probe in the removal journal (see confirmConfig); returns the repository
   * it opened for that (the caller closes it after the probe). A repository that records an owner key
   * wants it (OWNER_KEY_REQUIRED, OWNER_KEY_MISMATCH: nothing is done); any other failure leaves the
   * probe unnamed, which still proves the owner.
   */
  private async announceProbe(storage: Backend, probe: { type: 'locks'; name: string }): Promise<Repository | undefined> {
    const secret = this.secret()
    if (!secret) return undefined
    let repo: Repository | undefined
    try {
      repo = await Repository.open({ backend: storage, password: secret.password, key: secret.key, cacheDir: cacheDir(this.stateRoot, this.stateDir), trusted: true, ...(this.ownerKey !== undefined ? { ownerKey: this.ownerKey } : {}) })
      await repo.announceRemovals([probe], 'confirm config')
      return repo
    } catch (e) {
      const code = (e as SessionSyncError).code
      if (code === 'OWNER_KEY_REQUIRED' || code === 'OWNER_KEY_MISMATCH') {
        await repo?.close().catch(() => {})
        throw e
      }
      return repo
    }
  }

  /** The config's weakening changes waiting for the owner's confirmation (protected mode). */
  pendingConfigChange(): string[] {
    return [...this.pendingChange]
  }

  // ---- status and log ---------------------------------------------------------------------------

  /** Is the memory safe? Everything a user or an agent asks, in one value. */
  async status(): Promise<SyncStatus> {
    const state = this.readState()
    const interval = this.config.intervalMinutes * 60_000
    const warnings = [...this.configWarnings, ...this.weakenedSince(state).map((w) => `config: ${w}`)]
    const status: SyncStatus = {
      configured: this.configured,
      enabled: this.config.enabled,
      workspace: this.workspace,
      agent: this.agent,
      device: this.device,
      intervalMinutes: this.config.intervalMinutes,
      lastSync: state.lastSync,
      lastSuccessAt: state.lastSuccessAt,
      snapshotsPerDevice: {},
      secretsSkipped: [],
      storageReachable: false,
      schedule: this.scheduleHolder(),
      failuresInARow: state.failuresInARow ?? 0,
      warnings,
    }
    const walk = this.scope.walk()
    status.secretsSkipped = walk.secrets
    if (!this.configured) {
      warnings.push('not configured: run "session-sync sync init" or write session-sync-config.json')
      return status
    }
    status.location = this.location().describe
    if (this.config.protect) {
      status.protected = true
      status.pruning = `pruning runs from a trusted device: "session-sync sync retention --workspace ${this.workspace}" with the owner's credential`
      if (this.pendingChange.length > 0) {
        status.pendingConfigChange = [...this.pendingChange]
        for (const c of this.pendingChange) warnings.push(`config change waiting for the owner's confirmation ("session-sync sync confirm --workspace ${this.workspace}" with the owner's credential); the sync keeps the confirmed settings until then: ${c}`)
      }
      if (state.versionCheck) {
        status.versionCheck = state.versionCheck
        const w = versionCheckWarning(state.versionCheck)
        if (w) warnings.push(w)
      }
      if (state.versionCheckError) warnings.push(`protected history: the daily check of the storage's object versions failed (${state.versionCheckError.code}): ${state.versionCheckError.message}; it runs again after the next sync`)
    }
    if (!this.config.enabled) warnings.push('syncing is disabled ("enabled": false): nothing is backed up')
    if (state.lastSuccessAt) {
      status.sinceLastSuccessMs = this.now().getTime() - Date.parse(state.lastSuccessAt)
      if (status.sinceLastSuccessMs > 2 * interval) warnings.push(`the last successful sync was ${formatAge(status.sinceLastSuccessMs)} ago, more than two intervals`)
    } else warnings.push('no successful sync yet')
    for (const a of state.shrink ?? []) warnings.push(`shrink alarm: ${describeAlarm(a)}`)
    if (state.lastSync?.result === 'error') warnings.push(`the last sync failed${(state.failuresInARow ?? 0) > 1 ? ` (${state.failuresInARow} in a row)` : ''}: ${state.lastSync.error?.message ?? 'unknown error'}`)
    if (state.retentionError) warnings.push(`the daily retention and prune failed (${state.retentionError.code}): ${state.retentionError.message}`)
    if (state.verifyTrouble) warnings.push(`the daily verification ${state.verifyTrouble.problems > 0 ? `found ${state.verifyTrouble.problems} problem(s)` : 'failed'}: ${state.verifyTrouble.message}; run "session-sync check --read-data" on the repository`)
    if (this.nextAt) status.nextSyncAt = this.nextAt.toISOString()
    else if (this.config.enabled && state.lastSuccessAt) status.nextSyncAt = new Date(Math.max(Date.parse(state.lastSuccessAt) + interval, this.now().getTime())).toISOString()
    if (state.keyConfirmed === false) warnings.push(`the repository key exists only on this machine: keep a copy elsewhere ("session-sync sync key --show"), then run "session-sync sync key --confirm-saved"`)
    if (walk.secrets.length > 0) warnings.push(`${walk.secrets.length} file(s) left out because they look like secrets: ${walk.secrets.slice(0, 5).join(', ')}`)
    try {
      const repo = await this.repository()
      const own = await this.ownSnapshots(repo)
      status.storageReachable = true
      for (const w of repo.openWarnings) warnings.push(`storage: ${w}`)
      if (this.config.protect) {
        const protection = protectionOf(repo)
        if (protection) status.protection = protection
      }
      if (repo.suspiciousSnapshots.length > 0) {
        status.suspiciousSnapshots = repo.suspiciousSnapshots.map((x) => x.id)
        warnings.push(`${repo.suspiciousSnapshots.length} snapshot(s) whose time does not fit when the storage received them (forged, or set with --time): retention judges them by their storage time: ${repo.suspiciousSnapshots.slice(0, 5).map((x) => x.shortId).join(', ')}`)
      }
      for (const s of own) {
        const d = s.tags.find((t) => t.startsWith('device:'))?.slice(7) ?? s.host
        status.snapshotsPerDevice[d] = (status.snapshotsPerDevice[d] ?? 0) + 1
      }
      status.storedBytes = own.reduce((n, s) => n + (s.summary?.bytesStored ?? 0), 0)
      const latest = own.filter((s) => s.tags.includes(`device:${this.device}`)).at(-1) ?? own.at(-1)
      if (latest) {
        status.rawBytes = latest.summary?.totalBytes
        if (!latest.tags.includes(`device:${this.device}`)) await this.freshIndex(repo)
        status.changedSinceLastSnapshot = await this.changesSince(repo, latest, walk.entries)
      }
    } catch (e) {
      const err = errorOf(e)
      warnings.push(`storage: ${err.message}`)
    }
    return status
  }

  /** Syncs that failed since the last successful one (no I/O beyond the state file). */
  failuresInARow(): number {
    return this.readState().failuresInARow ?? 0
  }

  /** The last sync's outcome, as the state file keeps it. */
  lastSync(): LastSync | undefined {
    return this.readState().lastSync
  }

  private scheduleHolder(): ScheduleHolder {
    if (this.lease) return { running: true, here: true, pid: process.pid, owner: this.lease.holder.owner, since: this.lease.holder.since }
    const h = WorkspaceLock.holder(this.leasePath)
    return h ? { running: true, here: false, pid: h.pid, host: h.host, owner: h.owner, since: h.since } : { running: false }
  }

  /** This agent's snapshots, newest first; `device` narrows them to one device's. */
  async snapshots(opts: { device?: string; limit?: number } = {}): Promise<SyncSnapshot[]> {
    const repo = await this.repository()
    const own = (await this.ownSnapshots(repo)).reverse()
    const out: SyncSnapshot[] = []
    for (const s of own) {
      const device = s.tags.find((t) => t.startsWith('device:'))?.slice(7) ?? s.host
      if (opts.device !== undefined && device !== opts.device) continue
      out.push({
        id: s.id,
        shortId: s.shortId,
        time: s.time.toISOString(),
        device,
        trigger: s.tags.find((t) => t.startsWith('trigger:'))?.slice(8),
        files: s.summary?.totalFiles,
        totalBytes: s.summary?.totalBytes,
        bytesAdded: s.summary?.bytesStored,
      })
      if (opts.limit !== undefined && out.length >= opts.limit) break
    }
    return out
  }

  /** In-scope files new, changed (size or mtime) or removed against a snapshot, without reading any. */
  private async changesSince(repo: Repository, snap: Snapshot, entries: Map<string, { type: string; size: number; mtimeMs: number }>) {
    const seen = new Set<string>()
    const changed: string[] = []
    const removed: string[] = []
    const root = rootName(snap)
    for await (const e of repo.ls(snap.id)) {
      if (e.path === root || !e.path.startsWith(`${root}/`)) continue
      const rel = e.path.slice(root.length + 1)
      if (e.type === 'dir') {
        seen.add(rel)
        continue
      }
      const now = entries.get(rel)
      seen.add(rel)
      if (!now) removed.push(rel)
      else if (now.type !== e.type || now.size !== e.size || Math.floor(now.mtimeMs) !== e.mtime.getTime()) changed.push(rel)
    }
    const added = [...entries.keys()].filter((p) => !seen.has(p) && entries.get(p)!.type !== 'dir')
    return { new: added, changed, removed }
  }

  /** Compares a new snapshot with its parent for memory files that shrank; logs and keeps each alarm for status. */
  private async noteShrink(repo: Repository, parent: string, snapshot: string): Promise<void> {
    let alarms: ShrinkAlarm[] = []
    try {
      alarms = await shrinkAlarms(repo, await repo.findSnapshot(parent), await repo.findSnapshot(snapshot), this.config.shrinkAlarmPercent)
    } catch {
      // an alarm that cannot be computed must not fail the sync
    }
    for (const a of alarms) this.record({ kind: 'shrink', result: 'warning', snapshot, detail: { ...a } })
    this.updateState((s) => {
      s.shrink = alarms.length > 0 ? alarms : undefined
    })
  }

  /** The sync log, newest first. */
  log(opts: { limit?: number } = {}): SyncLogEntry[] {
    return this.syncLog.read(opts.limit ?? 50)
  }

  private record(entry: Omit<SyncLogEntry, 'time' | 'agent' | 'device'>): void {
    const line: SyncLogEntry = { time: this.now().toISOString(), agent: this.agent, device: this.device, ...entry }
    try {
      this.syncLog.append(line)
    } catch {
      // a log that cannot be written (a full disk, a folder in its place) must not fail the sync
    }
    try {
      this.onEvent?.(line)
    } catch {
      // an adapter's listener must not fail the sync either
    }
  }

  private writePage(): void {
    try {
      writeStatusPage(this.workspace, { agent: this.agent, device: this.device, state: this.readState(), log: this.syncLog.read(1000), now: this.now(), intervalMinutes: this.config.intervalMinutes })
    } catch {
      // as the log
    }
  }

  /**
   * Logs, once, each change of the config that weakens protection. The config from before the
   * first such change is kept, so status names what is weaker than it until the config is put back.
   */
  private noteConfigChanges(): void {
    const fp = fingerprintOf(this.config)
    const state = this.readState()
    if (state.config && JSON.stringify(state.config) === JSON.stringify(fp)) return
    const found = state.config ? weakenings(state.config, fp) : []
    for (const w of found) this.record({ kind: 'config', result: 'warning', detail: { change: w } })
    this.updateState((s) => {
      if (found.length > 0) s.strongerConfig ??= s.config
      s.config = fp
      if (s.strongerConfig && weakenings(s.strongerConfig, fp).length === 0) s.strongerConfig = undefined
    })
  }

  /** The changes since the last config that protected more, for status. */
  private weakenedSince(state: SyncState): string[] {
    return state.strongerConfig ? weakenings(state.strongerConfig, fingerprintOf(this.config)) : []
  }
}

function requestKinds(r: RequestCounts): Record<string, number> {
  return { GET: r.GET, PUT: r.PUT, LIST: r.LIST, DELETE: r.DELETE, HEAD: r.HEAD }
}

/** A typed error's code and message, or INTERNAL for anything else. Never a stack or a secret. */
export function errorOf(e: unknown): { code: string; message: string } {
  if (e instanceof SessionSyncError) return { code: e.code, message: e.message }
  if (e instanceof Error) return { code: 'INTERNAL', message: e.message }
  return { code: 'INTERNAL', message: String(e) }
}

/** Connection failures become StorageUnreachableError; everything else passes through. */
function unreachable(e: unknown, where: string): unknown {
  const text = `${(e as Error)?.message ?? ''} ${((e as { cause?: Error })?.cause as { code?: string })?.code ?? ''}`
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|getaddrinfo/.test(text)) return new StorageUnreachableError(where, (e as Error).message, { cause: e, advised: e instanceof SessionSyncError && e.code === 'STORAGE_UNREACHABLE' })
  return e
}

/** The name of the snapshot's one root folder (the workspace's folder name when it was taken). */
export function rootName(s: Snapshot): string {
  const p = s.paths[0] ?? ''
  return p.split(/[\\/]/).filter(Boolean).at(-1) ?? ''
}

/** A compact UTC time for record ids: 20261105T101500. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').slice(0, 15)
}

function formatAge(ms: number): string {
  const m = Math.round(ms / 60_000)
  if (m < 120) return `${m} min`
  const h = Math.round(m / 60)
  return h < 48 ? `${h} h` : `${Math.round(h / 24)} days`
}

/** One of `own` by id or unique id prefix (8 hex characters at least). */
function snapshotById(ref: string, own: readonly Snapshot[]): { snapshot: Snapshot; description: string } {
  if (!/^[0-9a-f]{8,64}$/.test(ref)) throw new InvalidOptionsError(`not a snapshot id: ${JSON.stringify(ref.slice(0, 80))} (8 to 64 hex characters)`)
  const hits = own.filter((s) => s.id.startsWith(ref))
  if (hits.length === 0) throw new SnapshotNotFoundError(ref)
  if (hits.length > 1) throw new AmbiguousSnapshotError(ref, hits.length)
  return { snapshot: hits[0], description: `snapshot ${hits[0].shortId} from ${hits[0].time.toISOString()}, by its id` }
}
