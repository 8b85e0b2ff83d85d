import { SessionSyncError } from '../library.js'

/** The workspace config or the plugin config is wrong: names the field, what is wrong and the fix. */
export class ConfigError extends SessionSyncError {
  constructor(
    /** Where the config came from: a file path or "plugin config". */
    source: string,
    /** Dotted path of the field (`interval_minutes`, `include.2`), or "" for the whole document. */
    field: string,
    problem: string,
    fix: string,
  ) {
    super('INVALID_CONFIG', `${source}: ${field ? `"${field}" ` : ''}${problem}; ${fix}`, { source, field, problem, fix })
  }
}

/**
 * A secret key of the config holds a reference to a secret (OpenClaw's SecretRef) instead of the
 * secret: the host resolves those only inside the running gateway, so the sync got the config before
 * (or without) that resolution. The message names the reference, never a value.
 */
export class UnresolvedSecretError extends SessionSyncError {
  constructor(source: string, field: string, ref: string) {
    super(
      'UNRESOLVED_SECRET',
      `${source}: "${field}" is an unresolved secret reference (${ref}); OpenClaw resolves references only inside the running gateway: run the agent through the gateway (not "openclaw agent --local"), and check that the secret exists (openclaw secrets store list) and that the gateway has loaded it (openclaw secrets reload)`,
      { source, field, ref },
    )
  }
}

/** Nothing says where the backups go (no provider): the sync is not configured yet. */
export class NotConfiguredError extends SessionSyncError {
  constructor(detail: string) {
    super('NOT_CONFIGURED', `session-sync is not configured: ${detail}. Run "session-sync sync init" or write session-sync-config.json in the workspace.`)
  }
}

/** Another sync, restore or undo of this workspace holds the lock and did not finish in time. */
export class SyncBusyError extends SessionSyncError {
  constructor(holder: { pid: number; host: string; since: string; what: string }, waitedMs: number) {
    super('SYNC_BUSY', `the workspace is busy: ${holder.what} by pid ${holder.pid} on ${holder.host} since ${holder.since} (waited ${Math.round(waitedMs / 1000)} s); try again when it has finished`, { ...holder, waitedMs })
  }
}

/** No key or passphrase for the repository is available to this process. */
export class KeyMissingError extends SessionSyncError {
  constructor(detail: string) {
    super('KEY_MISSING', `no key for the repository: ${detail}`)
  }
}

/** `undo` was given an id that names no restore record. */
export class RestoreNotFoundError extends SessionSyncError {
  constructor(id: string) {
    super('RESTORE_NOT_FOUND', `no restore "${id}" is recorded for this workspace; "session-sync sync restores" lists them with their ids.`, { id })
  }
}

/** The storage could not be reached at all (connection refused, DNS, timeout). */
export class StorageUnreachableError extends SessionSyncError {
  /** `advised`: `why` already says what to check (the library's own STORAGE_UNREACHABLE): not said twice. */
  constructor(location: string, why: string, options?: { cause?: unknown; advised?: boolean }) {
    const advice = options?.advised ? 'Nothing was changed.' : 'Check the endpoint and the network; nothing was changed.'
    super('STORAGE_UNREACHABLE', `cannot reach the storage at ${location}: ${why.replace(/[.\s]+$/, '')}. ${advice}`, { location }, { cause: options?.cause })
  }
}
