/**
 * `session-sync sync …`: an agent's workspace kept backed up, from a shell. The commands the
 * OpenClaw skill runs and the ones people without OpenClaw run; each parses its options, calls
 * WorkspaceSync and formats what it returns (one JSON value on stdout with --json). Only `init`
 * (which writes the workspace's session-sync-config.json) and `daemon` (which owns a pid file and
 * the process's signals) do more than that.
 */
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline/promises'
import { Command, Option } from 'commander'
import { applyEdits, modify } from 'jsonc-parser'
import {
  CONFIG_FILE_NAME,
  ConfigError,
  InvalidOptionsError,
  NotConfiguredError,
  SessionSyncError,
  SYNC_PROVIDERS,
  SYNC_TRIGGERS,
  WorkspaceSync,
  errorOf,
  formatTime,
  parseConfigText,
  protectedStatusLines,
  repositoryLocation,
  resolveConfig,
  validateConfigValue,
  type RestoreDiff,
  type RestoreResult,
  type SyncConfigInput,
  type SyncLogEntry,
  type SyncStatus,
  type SyncSummary,
  type SyncTrigger,
  type LockHolder,
} from '../index.js'
import { formatBytes } from './progress.js'
import { readOwnerKeyText, readSecret } from './secret.js'

/** What the sync commands borrow from the CLI's main module. */
export interface SyncCommandHelpers {
  /** Prints `value` as one JSON value with --json, else the text `human()` returns. */
  out(value: unknown, human: () => string): void
  /** A signal aborted by the first SIGINT or SIGTERM. */
  signalOnInterrupt(): AbortSignal
}

interface TargetOptions {
  workspace?: string
  agent: string
}

/** Triggers a person may give `sync now` (a restore-safety snapshot is the restore's own). */
const USER_TRIGGERS = SYNC_TRIGGERS.filter((t) => t !== 'restore-safety')
/** Names shown per list in a restore's report. */
const LIST_NAMES = 20
const POLL_MS = 1000

/** The config keys `sync init` sets from flags (and asks for on a terminal), with their flags. */
const INIT_KEYS = {
  provider: { flag: '--provider', ask: `Where should the backups go (${SYNC_PROVIDERS.join(', ')})` },
  path: { flag: '--path', ask: 'Folder for the backups' },
  bucket: { flag: '--bucket', ask: 'Bucket name' },
  endpoint: { flag: '--endpoint', ask: 'S3 endpoint URL (e.g. http://127.0.0.1:9000)' },
  region: { flag: '--region', ask: 'Region (e.g. us-west-004)' },
  account_id: { flag: '--account-id', ask: 'Cloudflare account id' },
  path_prefix: { flag: '--path-prefix', ask: 'Folder inside the bucket' },
} as const satisfies Partial<Record<keyof SyncConfigInput, { flag: string; ask: string }>>

type InitKey = keyof typeof INIT_KEYS

export function registerSyncCommands(program: Command, helpers: SyncCommandHelpers): void {
  const { out, signalOnInterrupt } = helpers
  const json = () => program.opts<{ json?: boolean }>().json === true
  const sync = program.command('sync').description("keep an agent's workspace (MEMORY.md, memory/, skills/ …) backed up, as configured in its session-sync-config.json")

  const command = (parent: Command, name: string, description: string) =>
    parent
      .command(name)
      .description(description)
      .option('--workspace <dir>', "the agent's workspace (default: $OPENCLAW_WORKSPACE_DIR, else ~/.openclaw/workspace)")
      .option('--agent <id>', "the agent's id; snapshots are grouped by it", 'main')

  command(sync, 'init', 'write the workspace config (from the flags, or asked on a terminal) and create or open the repository')
    .addOption(new Option('--provider <name>', 'where the backups go').choices([...SYNC_PROVIDERS]))
    .option('--path <dir>', 'the repository folder (provider local)')
    .option('--bucket <name>', 'the bucket (S3-compatible providers)')
    .option('--endpoint <url>', 'the S3 endpoint (minio, custom)')
    .option('--region <region>', 'the region (required for backblaze)')
    .option('--path-prefix <folder>', 'a folder inside the bucket')
    .option('--account-id <id>', 'the Cloudflare account id (r2)')
    .action(async (o: TargetOptions & { provider?: string; path?: string; bucket?: string; endpoint?: string; region?: string; pathPrefix?: string; accountId?: string }) => {
      const workspace = workspaceOf(o)
      const given = definedOnly({ provider: o.provider, path: o.path === undefined ? undefined : resolve(o.path), bucket: o.bucket, endpoint: o.endpoint, region: o.region, path_prefix: o.pathPrefix, account_id: o.accountId })
      const written = await writeInitConfig(workspace, given as Partial<Record<InitKey, string>>)
      await withSync(o, async (s) => {
        const r = await s.init()
        out(r, () => {
          const lines: string[] = []
          if (written) lines.push(`wrote ${written}`)
          lines.push(r.created ? `created a repository in the ${r.location} (id ${r.repositoryId.slice(0, 10)})` : `opened the existing repository in the ${r.location} (id ${r.repositoryId.slice(0, 10)}) with the key from ${r.keySource}`)
          if (r.created && r.keySource === 'generated' && r.keyFile) {
            lines.push(
              '',
              `The repository key is kept in ${r.keyFile} (readable only by you).`,
              'Without this key the backups cannot be read, by you or by anyone else.',
              'Keep a copy off this machine (a password manager, or on paper): "session-sync sync key --show" prints it;',
              'then run "session-sync sync key --confirm-saved".',
              'To open the backups with a passphrase you can remember as well: "session-sync sync key add-password".',
            )
          } else if (r.created) {
            lines.push(`The repository opens with the secret from ${r.keySource}: without it the backups cannot be read, so keep a copy of it off this machine.`)
          } else if (r.keyFile) {
            lines.push(`kept the key in ${r.keyFile}, so this device no longer needs ${r.keySource}`)
          }
          lines.push('', 'next: "session-sync sync now" backs up once; "session-sync sync daemon" keeps backing up on a schedule')
          return lines.join('\n')
        })
      })
    })

  command(sync, 'now', 'back up the workspace now (nothing is written when nothing changed)')
    .addOption(new Option('--trigger <trigger>', 'recorded in the snapshot and the log').choices(USER_TRIGGERS).default('manual'))
    .action(async (o: TargetOptions & { trigger: SyncTrigger }) => {
      await withSync(o, async (s) => {
        const r = await s.syncNow({ trigger: o.trigger, signal: signalOnInterrupt() })
        for (const e of r.errors) process.stderr.write(`warning: ${e.path}: ${e.message}\n`)
        out(r, () => syncReport(r))
        if (r.errors.length > 0) process.exitCode = 3
      })
    })

  command(sync, 'status', 'is the memory safe? the last sync, snapshots, changes since, storage and warnings')
    .action(async (o: TargetOptions) => {
      await withSync(
        o,
        async (s) => {
          const st = await s.status()
          out(st, () => statusReport(st))
        },
        false,
      )
    })

  command(sync, 'restore', 'restore a snapshot: into a staging folder (default), or in place with --in-place (undoable)')
    .argument('[timestamp]', 'latest, latest~N, a time ago (30m, 2h, 1d), a local time (2026-11-03 10:00) or one with an offset', 'latest')
    .option('--path <path>', 'only this file or folder, relative to the workspace (repeatable)', collect, [])
    .option('--in-place', 'put it in the workspace (after a safety snapshot; "sync undo" puts it back)')
    .option('--device <name>', "only this device's snapshots")
    .option('--snapshot <id>', 'this snapshot by its id (8 characters or more) instead of a time')
    .option('--time-zone <zone>', 'IANA time zone for a time without an offset (default: this machine\'s)')
    .action(async (timestamp: string, o: TargetOptions & { path: string[]; inPlace?: boolean; device?: string; snapshot?: string; timeZone?: string }) => {
      await withSync(o, async (s) => {
        const r = await s.restore({ ...(o.snapshot !== undefined ? { snapshot: o.snapshot } : { timestamp }), paths: o.path.length > 0 ? o.path : undefined, inPlace: o.inPlace === true, device: o.device, timeZone: o.timeZone, signal: signalOnInterrupt() })
        out(r, () => restoreReport(r))
      })
    })

  command(sync, 'undo', 'put the workspace back as it was before an in-place restore (or undo)')
    .argument('<restore-id>', 'the id "sync restore --in-place" printed; "sync restores" lists them')
    .action(async (id: string, o: TargetOptions) => {
      await withSync(o, async (s) => {
        const r = await s.undo(id, { signal: signalOnInterrupt() })
        out(r, () => restoreReport(r))
      })
    })

  command(sync, 'snapshots', "this agent's snapshots, newest first, with their device and what triggered them")
    .option('--device <name>', "only this device's snapshots")
    .option('--limit <n>', 'at most this many', '50')
    .action(async (o: TargetOptions & { device?: string; limit: string }) => {
      const limit = positiveInteger(o.limit, '--limit')
      await withSync(o, async (s) => {
        const list = await s.snapshots({ device: o.device, limit })
        out(list, () =>
          list.length === 0
            ? 'no snapshots yet'
            : list.map((x) => `${x.shortId}  ${formatTime(new Date(x.time))}  ${x.device}  ${(x.trigger ?? '').padEnd(14)}  ${x.files ?? '?'} files, ${formatBytes(x.totalBytes ?? 0)}`).join('\n'),
        )
      })
    })

  command(sync, 'restores', 'the in-place restores and undos recorded for this workspace, newest first')
    .action(async (o: TargetOptions) => {
      await withSync(o, async (s) => {
        const list = s.restores()
        out(list, () =>
          list.length === 0
            ? 'no in-place restores recorded'
            : list
                .map((r) => `${r.id}  ${formatTime(new Date(r.time))}  ${r.kind.padEnd(7)}  snapshot ${r.snapshot.slice(0, 8)}  safety ${r.safetySnapshot.slice(0, 8)}${r.paths ? `  paths ${r.paths.join(', ')}` : ''}${r.undoes ? `  undoes ${r.undoes}` : ''}`)
                .join('\n'),
        )
      })
    })

  command(sync, 'log', 'the sync log (syncs, retention, verification, restores), newest first')
    .option('--limit <n>', 'at most this many entries', '20')
    .action(async (o: TargetOptions & { limit: string }) => {
      const limit = positiveInteger(o.limit, '--limit')
      await withSync(o, async (s) => {
        const entries = s.log({ limit })
        out(entries, () => (entries.length === 0 ? 'the sync log is empty' : entries.map(logLine).join('\n')))
      })
    })

  command(sync, 'retention', "forget this agent's snapshots older than retention_days (each device's newest stays), then free their space")
    .option('-n, --dry-run', 'show the decisions, remove nothing')
    .action(async (o: TargetOptions & { dryRun?: boolean }) => {
      await withSync(o, async (s) => {
        const r = await s.applyRetention({ dryRun: o.dryRun === true, signal: signalOnInterrupt() })
        out(r, () => {
          const lines = r.decisions.map((d) => `${d.keep ? 'keep  ' : 'remove'}  ${d.id.slice(0, 8)}  ${formatTime(new Date(d.time))}  ${d.device.padEnd(20)}  ${d.reason}`)
          if (r.decisions.length === 0) lines.push('no snapshots')
          if (o.dryRun) lines.push(`would remove ${r.removed.length} snapshots (dry run: nothing was changed)`)
          else lines.push(`removed ${r.removed.length} snapshots${r.pruned ? `; freed ${formatBytes(r.bytesFreed ?? 0)}` : ''}`)
          return lines.join('\n')
        })
      }, true, true)
    })

  command(sync, 'confirm', "protected mode: the owner confirms the config's changes that weaken protection (run with the owner's credential: a writer's cannot delete, which is the proof)")
    .action(async (o: TargetOptions) => {
      await withSync(o, async (s) => {
        const r = await s.confirmConfig()
        out(r, () => (r.confirmed.length === 0 ? 'no config change waits for confirmation' : ['confirmed; the sync now runs with the config as written:', ...r.confirmed.map((c) => `  ${c}`)].join('\n')))
      }, true, true)
    })

  command(sync, 'verify', "download and check the day's slice of the repository's packs (a month covers them all)")
    .action(async (o: TargetOptions) => {
      await withSync(o, async (s) => {
        const r = await s.verify({ signal: signalOnInterrupt() })
        out(r, () => `verified part ${r.subset} of the packs: read ${r.packsRead} packs, ${formatBytes(r.bytesRead)}; ${r.ok ? 'no problems found' : `${r.problems} problems found ("session-sync sync log" names them; "session-sync check" checks everything)`}`)
        if (!r.ok) process.exitCode = 1
      })
    })

  const key = command(sync, 'key', 'the repository key kept for this workspace: show it, note that a copy is kept, add a passphrase')
    .option('--show', 'print the key (base64), to keep a copy off this machine')
    .option('--confirm-saved', 'note that a copy of the key is kept elsewhere (status stops warning)')
    .action(async (o: TargetOptions & { show?: boolean; confirmSaved?: boolean }) => {
      await withSync(o, async (s) => {
        if (o.show) {
          const k = s.showKey()
          out({ key: k, keyFile: s.keyFile() }, () => k)
        }
        if (o.confirmSaved) {
          s.confirmKeySaved()
          if (!o.show) out({ confirmed: true }, () => 'noted: a copy of the key is kept elsewhere')
        }
        if (!o.show && !o.confirmSaved) {
          const keyFile = s.keyFile()
          const kept = existsSync(keyFile)
          out({ keyFile, kept }, () =>
            kept
              ? `the key is kept in ${keyFile}\n"session-sync sync key --show" prints it; "--confirm-saved" notes that a copy is kept elsewhere; "add-password" adds a passphrase`
              : `no key is kept for this repository in ${keyFile}: it opens with SESSION_SYNC_KEY, SESSION_SYNC_PASSWORD or the config`,
          )
        }
      })
    })
  // The workspace and agent are the `key` command's options (a subcommand repeating them would
  // never see them: the parent command takes them first).
  key
    .command('add-password')
    .description('add a passphrase that opens the repository too (from SESSION_SYNC_NEW_PASSWORD, or asked twice on a terminal)')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<TargetOptions>()
      await withSync(o, async (s) => {
        const passphrase = await newPassphrase()
        const id = await s.addPassphrase(passphrase)
        out({ id }, () => `added passphrase key ${id.slice(0, 10)}: on another device SESSION_SYNC_PASSWORD with it opens the backups`)
      })
    })

  command(sync, 'daemon', 'run the schedule without OpenClaw: a sync every interval_minutes until SIGTERM or SIGINT')
    .action(async (o: TargetOptions) => {
      await runDaemon(o, json())
    })

  /** Makes a WorkspaceSync for the options, runs `fn`, closes it; prints config warnings on stderr. */
  async function withSync<T>(o: TargetOptions, fn: (s: WorkspaceSync) => Promise<T>, warn = true, trusted = false): Promise<T> {
    // On the owner's trusted device: the owner key (--owner-key, SESSION_SYNC_OWNER_KEY_FILE) signs the removal journal.
    const ownerKey = trusted ? readOwnerKeyText(program.opts<{ ownerKey?: string }>().ownerKey) : undefined
    const s = WorkspaceSync.create({ workspace: workspaceOf(o), agent: o.agent, ...(trusted ? { trusted } : {}), ...(ownerKey ? { ownerKey } : {}) })
    if (warn) for (const w of s.configWarnings) process.stderr.write(`warning: ${w}\n`)
    try {
      return await fn(s)
    } finally {
      await s.close().catch(() => {})
    }
  }
}

export function workspaceOf(o: { workspace?: string }): string {
  return resolve(o.workspace || process.env.OPENCLAW_WORKSPACE_DIR || join(process.env.HOME || homedir(), '.openclaw', 'workspace'))
}

// ---- init -----------------------------------------------------------------------------------------

/**
 * Writes the flags into the workspace's session-sync-config.json (merging them into an existing
 * file, whose comments and layout stay), when there is no file, a flag is given, or the file names
 * no provider. Asks on a terminal for what is missing; elsewhere says which flags to give. Returns
 * the file's path when it wrote it.
 */
async function writeInitConfig(workspace: string, given: Partial<Record<InitKey, string>>): Promise<string | undefined> {
  let st
  try {
    st = statSync(workspace)
  } catch {
    throw new InvalidOptionsError(`the workspace ${workspace} does not exist; give the agent's workspace folder (--workspace or OPENCLAW_WORKSPACE_DIR)`)
  }
  if (!st.isDirectory()) throw new InvalidOptionsError(`the workspace ${workspace} is not a folder`)
  const file = join(workspace, CONFIG_FILE_NAME)
  const text = existsSync(file) ? readFileSync(file, 'utf8') : undefined
  const current = text === undefined ? {} : parseConfigText(text, file).value
  if (text !== undefined && Object.keys(given).length === 0 && current.provider !== undefined) return undefined
  validateConfigValue(given, 'the options given to "sync init"')

  const merged: Record<string, unknown> = { ...current, ...given }
  const answers: Partial<Record<InitKey, string>> = {}
  const ask = process.stdin.isTTY ? askFor() : undefined
  try {
    if (merged.provider === undefined) {
      if (!ask) {
        throw new InvalidOptionsError(
          `no provider is configured for ${workspace}: give one, e.g. "session-sync sync init --provider local --path ~/agent-backup", or --provider s3, backblaze, r2, wasabi, minio or custom with --bucket NAME (and --region for backblaze, --account-id for r2, --endpoint URL for minio and custom); or run it on a terminal to be asked`,
        )
      }
      answers.provider = merged.provider = await ask.provider()
    }
    const missing = missingKeys(merged, workspace)
    if (missing.length > 0 && !ask) {
      throw new InvalidOptionsError(`provider "${merged.provider}" also needs ${missing.map((k) => INIT_KEYS[k].flag).join(' and ')}: add ${missing.length > 1 ? 'them' : 'it'} to "session-sync sync init"`)
    }
    for (const k of missing) answers[k] = merged[k] = await ask!.field(k)
  } finally {
    ask?.close()
  }

  const changes = { ...given, ...answers }
  let next: string
  if (text === undefined) next = `${JSON.stringify(merged, null, 2)}\n`
  else {
    next = text
    for (const [k, v] of Object.entries(changes)) next = applyEdits(next, modify(next, [k], v, { formattingOptions: { insertSpaces: true, tabSize: 2, eol: '\n' } }))
  }
  // What is written must load: the same checks the sync makes, before the file is replaced.
  resolveConfig({ workspace: parseConfigText(next, file).value, workspaceDir: workspace })
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(tmp, next, { mode: text === undefined ? 0o644 : statSync(file).mode & 0o777 })
  renameSync(tmp, file)
  if (merged.provider !== 'local' && !(process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY) && !process.env.AWS_PROFILE && merged.key_id === undefined) {
    process.stderr.write('note: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for the storage; they never go into the config file\n')
  }
  return file
}

/** The config keys the provider still needs, found by the checks the sync itself makes. */
function missingKeys(config: Record<string, unknown>, workspace: string): InitKey[] {
  const probe = { ...config }
  const missing: InitKey[] = []
  for (;;) {
    try {
      resolveConfig({ workspace: probe as SyncConfigInput, workspaceDir: workspace })
      return missing
    } catch (e) {
      const field = e instanceof ConfigError ? String(e.data.field) : ''
      if (!(field in INIT_KEYS) || !/is required/.test(String(e instanceof ConfigError ? e.data.problem : '')) || missing.includes(field as InitKey)) throw e
      missing.push(field as InitKey)
      probe[field] = field === 'endpoint' ? 'http://placeholder' : 'placeholder'
    }
  }
}

/** Questions on the terminal (on stderr, so stdout stays the command's output). */
function askFor() {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  const question = async (q: string, check: (a: string) => string | undefined): Promise<string> => {
    for (let i = 0; i < 3; i++) {
      const a = (await rl.question(`${q}: `)).trim()
      const problem = check(a)
      if (!problem) return a
      process.stderr.write(`${problem}\n`)
    }
    throw new InvalidOptionsError(`no valid answer to "${q}"`)
  }
  return {
    provider: () => question(INIT_KEYS.provider.ask, (a) => ((SYNC_PROVIDERS as readonly string[]).includes(a) ? undefined : `give one of ${SYNC_PROVIDERS.join(', ')}`)),
    field: async (k: InitKey) => {
      const a = await question(INIT_KEYS[k].ask, (v) => {
        if (v === '') return 'an answer is needed'
        try {
          validateConfigValue({ [k]: v }, 'the answer')
          return undefined
        } catch (e) {
          return (e as Error).message
        }
      })
      return k === 'path' ? resolve(a.replace(/^~(?=$|\/)/, homedir())) : a
    },
    close: () => rl.close(),
  }
}

// ---- keys -----------------------------------------------------------------------------------------

async function newPassphrase(): Promise<string> {
  if (process.env.SESSION_SYNC_NEW_PASSWORD) return process.env.SESSION_SYNC_NEW_PASSWORD
  if (!process.stdin.isTTY) throw new InvalidOptionsError('no passphrase: set SESSION_SYNC_NEW_PASSWORD, or run on a terminal to be asked')
  return (await readSecret({}, true, true)).password!
}

// ---- reports --------------------------------------------------------------------------------------

function syncReport(r: SyncSummary): string {
  return [
    r.result === 'unchanged' ? `nothing changed${r.snapshot ? ` since snapshot ${r.snapshot.slice(0, 8)}` : ''}: nothing was written (${r.trigger})` : `snapshot ${r.snapshot!.slice(0, 8)} saved (${r.trigger})`,
    `files:     ${r.filesNew} new, ${r.filesChanged} changed, ${r.filesUnmodified} unchanged${r.errors.length > 0 ? `, ${r.errors.length} could not be read` : ''}`,
    `uploaded:  ${formatBytes(r.bytesUploaded)} (${formatBytes(r.bytesAdded)} of new data)`,
    `took:      ${seconds(r.durationMs)}`,
  ].join('\n')
}

function statusReport(st: SyncStatus): string {
  const lines = [`workspace:     ${st.workspace} (agent ${st.agent}, device ${st.device})`]
  if (!st.configured) lines.push('backups go to: nowhere yet (not configured)')
  else {
    lines.push(`backups go to: ${st.location}${st.enabled ? '' : ' (disabled)'}`)
    const last = st.lastSync
    lines.push(
      `last sync:     ${last ? `${formatTime(new Date(last.time))}, ${last.trigger}, ${last.result === 'error' ? `failed: ${last.error?.message ?? 'unknown error'}` : last.result}${last.snapshot ? `, snapshot ${last.snapshot.slice(0, 8)}` : ''}` : 'never'}`,
    )
    if (st.lastSuccessAt) lines.push(`last success:  ${formatTime(new Date(st.lastSuccessAt))}${st.sinceLastSuccessMs !== undefined ? ` (${age(st.sinceLastSuccessMs)} ago)` : ''}`)
    const every = `every ${st.intervalMinutes} min`
    lines.push(`next sync:     ${st.nextSyncAt ? `${formatTime(new Date(st.nextSyncAt))} (${every})` : st.enabled ? `at the first sync (${every})` : 'none: syncing is disabled'}`)
    const sch = st.schedule
    lines.push(
      `schedule:      ${sch.running ? `${sch.owner === 'daemon' ? 'the daemon' : (sch.owner ?? 'another process')} runs it (pid ${sch.pid}${sch.host ? ` on ${sch.host}` : ''}, since ${formatTime(new Date(sch.since ?? ''))})` : 'nothing runs it here ("session-sync sync daemon"; OpenClaw\'s plugin runs it when installed)'}`,
    )
    const devices = Object.entries(st.snapshotsPerDevice)
    lines.push(`snapshots:     ${devices.length === 0 ? 'none' : devices.map(([d, n]) => `${n} from ${d}`).join(', ')}`)
    if (st.storedBytes !== undefined) lines.push(`stored:        ${formatBytes(st.storedBytes)} for the kept snapshots${st.rawBytes !== undefined ? `; the latest holds ${formatBytes(st.rawBytes)} of files` : ''}`)
    const c = st.changedSinceLastSnapshot
    if (c) {
      const names = [...c.new, ...c.changed, ...c.removed]
      lines.push(`changed since the last snapshot: ${c.new.length} new, ${c.changed.length} changed, ${c.removed.length} removed${names.length > 0 ? ` (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})` : ''}`)
    }
    lines.push(`storage:       ${st.storageReachable ? 'reachable' : 'NOT reachable'}`)
    for (const l of protectedStatusLines(st)) lines.push(`protection:    ${l}`)
  }
  if (st.secretsSkipped.length > 0) lines.push(`secrets left out: ${st.secretsSkipped.slice(0, 10).join(', ')}${st.secretsSkipped.length > 10 ? ', …' : ''}`)
  for (const w of st.warnings) lines.push(`warning: ${w}`)
  return lines.join('\n')
}

function restoreReport(r: RestoreResult): string {
  const lines = [`${r.inPlace ? 'restored in place' : 'staged'}: ${r.resolved}`]
  if (!r.inPlace) {
    lines.push(`staging folder: ${r.stagingDir}`, ...diffLines(r.diff), 'the workspace was not changed: copy what you need from the staging folder, or run again with --in-place')
  } else {
    const a = r.applied
    if (a) lines.push(`files: ${a.written} written, ${a.removed} removed, ${a.unchanged} unchanged`)
    lines.push(...diffLines(r.diff))
    lines.push(`safety snapshot of the workspace before: ${r.safetySnapshot?.slice(0, 8)}`, `restore id: ${r.id}`, `undo with: session-sync sync undo ${r.id}`)
  }
  return lines.join('\n')
}

function diffLines(d: RestoreDiff): string[] {
  const lines: string[] = []
  for (const [what, names] of [
    ['added', d.added],
    ['changed', d.changed],
    ['removed', d.removed],
    ['unchanged', d.unchanged],
  ] as const) {
    lines.push(`${what}: ${names.length}`)
    for (const n of names.slice(0, LIST_NAMES)) lines.push(`  ${n}`)
    if (names.length > LIST_NAMES) lines.push(`  … and ${names.length - LIST_NAMES} more`)
  }
  return lines
}

/** One sync-log entry on one line. */
function logLine(e: SyncLogEntry): string {
  const parts = [formatTime(new Date(e.time)), e.kind.padEnd(9), (e.trigger ?? '').padEnd(14), e.result.padEnd(9), (e.snapshot?.slice(0, 8) ?? '').padEnd(8)]
  const info: string[] = []
  if (e.filesNew !== undefined) info.push(`${e.filesNew} new, ${e.filesChanged ?? 0} changed, ${e.filesUnmodified ?? 0} unchanged`)
  if (e.bytesUploaded !== undefined) info.push(`${formatBytes(e.bytesUploaded)} up`)
  if (e.durationMs !== undefined) info.push(seconds(e.durationMs))
  const d = e.detail ?? {}
  if (typeof d.id === 'string') info.push(`id ${d.id}`)
  if (Array.isArray(d.removed)) info.push(`removed ${d.removed.length}`)
  if (typeof d.change === 'string') info.push(d.change)
  if (typeof d.subset === 'string') info.push(`part ${d.subset}`)
  if (Array.isArray(d.unreadable)) info.push(`${d.unreadable.length} unreadable`)
  if (e.error) info.push(`${e.error.code}: ${e.error.message}`)
  return `${parts.join('  ')}  ${info.join('; ')}`.trimEnd()
}

// ---- daemon ---------------------------------------------------------------------------------------

/** Another process (a daemon, an OpenClaw gateway) runs this workspace's schedule already. */
class DaemonRunningError extends SessionSyncError {
  constructor(workspace: string, holder: LockHolder) {
    const who = holder.owner === 'daemon' ? 'a daemon' : (holder.owner ?? 'another process')
    super('SYNC_BUSY', `${who} already runs the schedule for ${workspace} (pid ${holder.pid} on ${holder.host}, since ${holder.since}); stop it first, or leave the syncing to it`, { workspace, ...holder })
  }
}

/**
 * Runs the schedule until SIGTERM or SIGINT. The sync log is the record of what happened: the
 * daemon reads it every second and reports the new entries (stderr; with --json, JSON lines on
 * stdout), so syncs by other processes on the workspace show too.
 */
async function runDaemon(o: TargetOptions, json: boolean): Promise<void> {
  const s = WorkspaceSync.create({ workspace: workspaceOf(o), agent: o.agent })
  const emit = (event: string, data: Record<string, unknown>, human: string) => {
    if (json) process.stdout.write(`${JSON.stringify({ event, ...data })}\n`)
    else process.stderr.write(`session-sync daemon: ${human}\n`)
  }
  for (const w of s.configWarnings) emit('warning', { time: new Date().toISOString(), message: w }, `warning: ${w}`)
  if (!s.configured) throw new NotConfiguredError('no provider is set')
  if (!s.config.enabled) throw new InvalidOptionsError(`syncing is disabled ("enabled": false in ${CONFIG_FILE_NAME}): set it to true to run the daemon`)
  let stopping = false
  let stop: (signal: string) => void = () => {}
  const stopped = new Promise<string>((resolveStop) => {
    stop = resolveStop
  })
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130) // a second signal while stopping
    stopping = true
    stop(signal)
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
  try {
    let seen = JSON.stringify(s.log({ limit: 1 })[0] ?? null)
    // One schedule per workspace: the sync layer's lease, shared with OpenClaw's gateway.
    const started = s.start({ owner: 'daemon' })
    if (!started.scheduled) throw started.heldBy ? new DaemonRunningError(s.workspace, started.heldBy) : new InvalidOptionsError(`the schedule cannot start: ${started.reason}`)
    // A missing key or a wrong one fails now, not once an interval; unreachable storage may come back.
    try {
      await s.repository()
    } catch (e) {
      const err = errorOf(e)
      if (err.code !== 'STORAGE_UNREACHABLE' && err.code !== 'BACKEND_ERROR') throw e
      emit('error', { time: new Date().toISOString(), error: err }, `error: ${err.message}`)
    }
    const report = () => {
      let entries: SyncLogEntry[]
      try {
        entries = s.log({ limit: 100 })
      } catch (e) {
        const err = errorOf(e)
        emit('error', { time: new Date().toISOString(), error: err }, `error: cannot read the sync log: ${err.message}`)
        return
      }
      const fresh: SyncLogEntry[] = []
      for (const e of entries) {
        if (JSON.stringify(e) === seen) break
        fresh.push(e)
      }
      if (fresh.length === 0) return
      seen = JSON.stringify(fresh[0])
      for (const e of fresh.reverse()) emit(e.kind, e as unknown as Record<string, unknown>, logLine(e))
    }
    const location = repositoryLocation(s.config).describe
    emit(
      'started',
      { time: new Date().toISOString(), pid: process.pid, workspace: s.workspace, agent: s.agent, device: s.device, location, intervalMinutes: s.config.intervalMinutes },
      `started for ${s.workspace} (agent ${s.agent}, device ${s.device}, pid ${process.pid}): a sync every ${s.config.intervalMinutes} min to the ${location}`,
    )
    const poll = setInterval(report, POLL_MS) // also keeps the process alive: the schedule's timers do not
    const signal = await stopped
    clearInterval(poll)
    emit('stopping', { time: new Date().toISOString(), signal }, `${signal}: stopping`)
    await s.stop()
    report()
    emit('stopped', { time: new Date().toISOString(), signal }, 'stopped')
    // Whatever handle the library leaves open must not keep a stopped daemon alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref()
  } finally {
    process.off('SIGTERM', handler)
    process.off('SIGINT', handler)
    await s.stop().catch(() => {})
  }
}


// ---- small helpers --------------------------------------------------------------------------------

function collect(v: string, prev: string[]): string[] {
  return [...prev, v]
}

function positiveInteger(s: string, what: string): number {
  const n = Number(s)
  if (!Number.isInteger(n) || n < 1) throw new InvalidOptionsError(`${what} must be a whole number of at least 1, not "${s}"`)
  return n
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`
}

function age(ms: number): string {
  const m = Math.round(ms / 60_000)
  if (m < 1) return 'less than a minute'
  if (m < 120) return `${m} min`
  const h = Math.round(m / 60)
  return h < 48 ? `${h} h` : `${Math.round(h / 24)} days`
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
