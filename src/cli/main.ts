/**
 * The session-sync command line: a thin layer over the library's public API. Every command prints
 * a human-readable report, or with --json one JSON value on stdout and nothing else there.
 */
import { Command, CommanderError, Option } from 'commander'
import { basename, join, resolve } from 'node:path'
import {
  CAT_KINDS,
  openBackend,
  providerOptions,
  checkEndpoint,
  S3_PROVIDERS,
  type S3Provider,
  type S3Options,
  Prewalk,
  prestartWorkers,
  Repository,
  SessionSyncError,
  InvalidOptionsError,
  jsonable,
  type Backend,
  withDryRun,
  type DryRunBackend,
  withRateLimit,
  asOf,
  AS_OF_NOW,
  recoverTo,
  parseTimeRef,
  type CatKind,
  type Snapshot,
  type Entry,
  type RetentionPolicy,
  type PruneSummary,
  type RestoreSummary,
  type OverwritePolicy,
  OVERWRITE_POLICIES,
  isWarning,
  adviceFor,
  formatTime,
  generateOwnerKey,
  ownerKeyFingerprint,
  OWNER_KEY_NAME,
  type OwnerKeyPair,
} from '../index.js'
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { formatBytes, ProgressLine } from './progress.js'
import { readOwnerKeyText, readRepositoryFile, readSecret, writeOwnerKeyFile } from './secret.js'
import { registerSyncCommands } from './sync.js'
import { parseGivenTime, resolveSnapshotRef, splitSnapshotRef, USER_TIME_TAG } from './refs.js'
import { registerDashboardCommand } from './dashboard.js'

const VERSION = '0.1.0'
// The AWS SDK warns on every run under Node 20 about its own future support; the CLI stays quiet.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

interface GlobalOptions {
  repo?: string
  passwordFile?: string
  passwordCommand?: string
  keyFile?: string
  json?: boolean
  quiet?: boolean
  cacheDir?: string
  /** False with --no-cache. */
  cache?: boolean
}

const program = new Command()
program
  .name('session-sync')
  .description('Encrypted, deduplicating backups to a local folder or S3-compatible storage.')
  .version(VERSION)
  .option('-r, --repo <location>', 'repository: a folder, s3:https://HOST/BUCKET[/PREFIX] or s3:BUCKET[/PREFIX] (env SESSION_SYNC_REPOSITORY)')
  .option('--repository-file <file>', 'read the repository location from the first line of a file (env SESSION_SYNC_REPOSITORY_FILE)')
  .option('--password-file <file>', 'read the password from a file (env SESSION_SYNC_PASSWORD_FILE; SESSION_SYNC_PASSWORD holds it directly)')
  .option('--password-command <command>', 'run this shell command and use the first line it prints as the password (env SESSION_SYNC_PASSWORD_COMMAND)')
  .option('--key-file <file>', 'read a raw 32-byte base64 key from a file (env SESSION_SYNC_KEY_FILE; SESSION_SYNC_KEY holds it directly)')
  .option('--json', 'print one JSON value on stdout')
  .option('-q, --quiet', 'no progress display')
  .addOption(new Option('--s3-provider <name>', 'S3-compatible provider preset (s3:BUCKET[/PREFIX] locations)').choices([...S3_PROVIDERS]))
  .option('--s3-region <region>', 'region (AWS, Backblaze B2, Wasabi); env AWS_REGION')
  .option('--s3-account-id <id>', 'Cloudflare R2 account id')
  .option('--s3-endpoint <url>', 'endpoint URL for s3:BUCKET locations (MinIO, custom; e.g. http://127.0.0.1:9000); env AWS_ENDPOINT_URL_S3')
  .option('--s3-path-style', 'address buckets as HOST/BUCKET rather than BUCKET.HOST (the default with --s3-endpoint)')
  .option('--s3-storage-class <class>', 'storage class for new objects (e.g. STANDARD_IA)')
  .option('--max-connections <n>', 'requests to storage at once (default 8)')
  .option('--cacert <file>', 'trust the certificates in this PEM file for an https S3 endpoint (repeatable; env SESSION_SYNC_CACERT)', collect, [])
  .option('--s3-timeout <duration>', 'fail a request to S3 that stays silent this long (default 30s; env SESSION_SYNC_S3_TIMEOUT); it is then retried')
  .option('--retry-deadline <duration>', 'stop retrying failed storage requests after this long (default 1m; env SESSION_SYNC_RETRY_DEADLINE)')
  .option('--limit-upload <KiB/s>', 'upload at most this many KiB per second on average (env SESSION_SYNC_LIMIT_UPLOAD)')
  .option('--limit-download <KiB/s>', 'download at most this many KiB per second on average (env SESSION_SYNC_LIMIT_DOWNLOAD)')
  .option('--cache-dir <dir>', 'local cache of snapshot and index files (env SESSION_SYNC_CACHE_DIR; default $XDG_CACHE_HOME/session-sync-cloud or ~/.cache/session-sync-cloud)')
  .option('--no-cache', 'read everything from storage, keep no local cache (env SESSION_SYNC_NO_CACHE=1)')
  .option('--trusted', "the owner's credential on a trusted device: in a protected repository prune, forget and unlock may delete, each delete named first in the removal journal (check --versions tells them from a compromised writer's)")
  .option('--owner-key <file>', "with --trusted: the owner's private key that signs the removal journal of a protected repository that records one (env SESSION_SYNC_OWNER_KEY_FILE; SESSION_SYNC_OWNER_KEY holds it directly); keep it off the agent's machine")
  .option('--as-of <time>', 'read the repository as it was at this time (2026-12-05 10:00:00+01:00, 2026-12-05, 2d; now: as it is, skipping overwrites, no time limit) from the storage\'s object versions, read-only: snapshots, ls, restore, check work on it (a bucket with versioning)')
  .showSuggestionAfterError()
  .exitOverride()
  .configureOutput({ writeErr: (text) => usageError(text) })

/**
 * Commander's own errors (unknown command or option, missing argument): one line with its hint
 * (did you mean …) and where to read more, not the whole help; with --json, the error object too.
 * Help and version output (also written through here by commander) pass through unchanged.
 */
function usageError(text: string): void {
  if (!/^error: /.test(text)) {
    process.stderr.write(text)
    return
  }
  const message = text
    .replace(/^error: /, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ')
    .replace(/\(Did you mean (.*)\?\)/, '(did you mean $1?)')
    .replace(/\.$/, '') // commander ends some messages with a period; ours goes on after it
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ error: { code: 'USAGE', message } })}\n`)
  process.stderr.write(`session-sync: ${message}; see "session-sync --help"\n`)
}

function globals(): GlobalOptions {
  return program.opts<GlobalOptions>()
}

/** The repository location, first match wins: --repo, --repository-file, SESSION_SYNC_REPOSITORY, SESSION_SYNC_REPOSITORY_FILE. */
function repositoryLocation(location: string | undefined): string {
  const g = program.opts<GlobalOptions & { repositoryFile?: string }>()
  if (location && g.repositoryFile) throw new InvalidOptionsError('give --repo or --repository-file, not both')
  const env = process.env
  const loc =
    location ??
    (g.repositoryFile ? readRepositoryFile(g.repositoryFile, '--repository-file') : undefined) ??
    env.SESSION_SYNC_REPOSITORY ??
    (env.SESSION_SYNC_REPOSITORY_FILE ? readRepositoryFile(env.SESSION_SYNC_REPOSITORY_FILE, 'SESSION_SYNC_REPOSITORY_FILE') : undefined)
  if (!loc) throw new InvalidOptionsError('no repository given: use --repo or --repository-file, or set SESSION_SYNC_REPOSITORY or SESSION_SYNC_REPOSITORY_FILE')
  return loc
}

/** The storage a location names, within the rate limits given. */
function backendFor(location: string | undefined): Backend {
  const g = program.opts<{ limitUpload?: string; limitDownload?: string }>()
  const rate = (flag: string, given: string | undefined, env: string) => {
    const text = given ?? process.env[env]
    return text === undefined ? undefined : parseNumber(text, given === undefined ? env : flag, 1) * 1024
  }
  const uploadBytesPerSec = rate('--limit-upload', g.limitUpload, 'SESSION_SYNC_LIMIT_UPLOAD')
  const downloadBytesPerSec = rate('--limit-download', g.limitDownload, 'SESSION_SYNC_LIMIT_DOWNLOAD')
  return withRateLimit(storageFor(location), { uploadBytesPerSec, downloadBytesPerSec })
}

function storageFor(location: string | undefined): Backend {
  const loc = repositoryLocation(location)
  const g = program.opts<GlobalOptions & { s3Provider?: S3Provider; s3Region?: string; s3AccountId?: string; s3StorageClass?: string; maxConnections?: string; s3Endpoint?: string; s3PathStyle?: boolean; s3Timeout?: string; retryDeadline?: string; cacert: string[] }>()
  const given = g.s3Endpoint ?? process.env.AWS_ENDPOINT_URL_S3
  const endpoint = given === undefined ? undefined : checkEndpoint(given)
  const provider: Partial<S3Options> = g.s3Provider
    ? providerOptions(g.s3Provider, { region: g.s3Region, accountId: g.s3AccountId, endpoint })
    : { ...(g.s3Region ? { region: g.s3Region } : {}), ...(endpoint ? { endpoint, forcePathStyle: true, region: g.s3Region ?? 'us-east-1' } : {}) }
  if (g.s3PathStyle) provider.forcePathStyle = true
  const timeout = g.s3Timeout ?? process.env.SESSION_SYNC_S3_TIMEOUT
  const caFiles = g.cacert.length > 0 ? g.cacert : process.env.SESSION_SYNC_CACERT ? [process.env.SESSION_SYNC_CACERT] : []
  const caCertificates = caFiles.map((f) => {
    try {
      return readFileSync(f, 'utf8')
    } catch (e) {
      throw new InvalidOptionsError(`cannot read the CA certificate file ${f}: ${(e as Error).message}`)
    }
  })
  const deadline = g.retryDeadline ?? process.env.SESSION_SYNC_RETRY_DEADLINE
  return openBackend(loc, {
    s3: {
      ...provider,
      storageClass: g.s3StorageClass as S3Options['storageClass'],
      maxConnections: g.maxConnections ? Number(g.maxConnections) : undefined,
      ...(caCertificates.length > 0 ? { caCertificates } : {}),
      ...(timeout ? { idleTimeoutMs: parseWait(timeout, g.s3Timeout ? '--s3-timeout' : 'SESSION_SYNC_S3_TIMEOUT') } : {}),
    },
    retry: {
      ...(deadline ? { deadlineMs: parseWait(deadline, g.retryDeadline ? '--retry-deadline' : 'SESSION_SYNC_RETRY_DEADLINE') } : {}),
      // Said even with --quiet: a silent wait on storage reads as a hang.
      onRetry: (r) => process.stderr.write(`storage: ${r.operation} failed (${retryReason(r.error)}); retrying in ${r.delayMs < 1000 ? `${r.delayMs} ms` : `${(r.delayMs / 1000).toFixed(1)} s`} (attempt ${r.attempt}, giving up in ${Math.max(0, Math.round(r.remainingMs / 1000))} s)\n`),
    },
  })
}

/** The innermost message of a storage error, without the layers that repeat the operation. */
function retryReason(e: unknown): string {
  let cur = e as { message?: string; cause?: unknown } | undefined
  while (cur && cur.cause instanceof Error && /^storage /.test(cur.message ?? '')) cur = cur.cause as typeof cur
  return (cur?.message ?? String(e)).replace(/^storage .* failed: /, '')
}

const opened: Repository[] = []
const warned = new Set<string>()

/** The local cache as the global options set it, and where its warnings go. */
function cacheOptions(): { cacheDir?: string | false; onWarning: (m: string) => void } {
  const g = globals()
  return {
    cacheDir: g.cache === false ? false : g.cacheDir,
    onWarning: (m) => {
      warned.add(m)
      process.stderr.write(`warning: ${m}\n`)
    },
  }
}

/** The time --as-of gives, if it was given. */
function asOfTime(): Date | undefined {
  const text = program.opts<{ asOf?: string }>().asOf
  if (text === undefined) return undefined
  if (text === 'now') return AS_OF_NOW
  let parsed
  try {
    parsed = parseTimeRef(text)
  } catch {
    parsed = undefined
  }
  if (parsed?.kind !== 'time') throw new InvalidOptionsError(`--as-of takes a time (2026-12-05 10:00:00+01:00, 2026-12-05, 2d), not "${text}"`)
  return parsed.time
}

/** The storage of --repo, or with --as-of its read-only view of that time. */
function repositoryBackend(): Backend {
  const storage = backendFor(globals().repo)
  const time = asOfTime()
  return time ? asOf(storage, time) : storage
}

/** `whileDeriving` runs once the secret is read, before the repository opens, when the secret is a password (its key derives for about 0.3 s). */
async function openRepo(wrap?: (b: Backend) => Backend, whileDeriving?: () => void): Promise<Repository> {
  const g = globals()
  const backend = wrap ? wrap(repositoryBackend()) : repositoryBackend()
  const trusted = program.opts<{ trusted?: boolean }>().trusted === true
  const ownerKey = trusted ? readOwnerKeyText(program.opts<{ ownerKey?: string }>().ownerKey) : undefined
  const secret = await readSecret(g, false)
  if (secret.password !== undefined) whileDeriving?.()
  const repo = await Repository.open({ backend, ...secret, ...cacheOptions(), ...(trusted ? { trusted } : {}), ...(ownerKey ? { ownerKey } : {}) }).catch(async (e) => {
    await backend.close?.()
    throw e
  })
  opened.push(repo)
  for (const w of repo.openWarnings) if (!warned.has(w)) process.stderr.write(`warning: ${w}\n`)
  return repo
}

function out(value: unknown, human: () => string): void {
  if (globals().json) process.stdout.write(`${JSON.stringify(jsonable(value))}\n`)
  else {
    const text = human()
    if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  }
}

/** The signal that stopped a one-shot command, for its exit status (128 + its number, as a shell reports it). */
let stoppedBy: 'SIGINT' | 'SIGTERM' | undefined

function signalOnInterrupt(): AbortSignal {
  const ac = new AbortController()
  const stop = (sig: 'SIGINT' | 'SIGTERM') => {
    stoppedBy ??= sig
    ac.abort()
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
  return ac.signal
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v]
}

function parseNumber(s: string, what: string, min = 0): number {
  const n = Number(s)
  if (s.trim() === '' || !Number.isFinite(n) || n < min) throw new InvalidOptionsError(`${what} must be a number of at least ${min}, not "${s}"`)
  return n
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim())
  if (!m) throw new InvalidOptionsError(`not a size: "${s}" (use e.g. 500K, 10M, 2G)`)
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't']
  return Math.floor(Number(m[1]) * mult)
}

/** A wait such as 30s, 5m, 1h30m or 500ms, in milliseconds (restic's --retry-lock takes the same). */
function parseWait(s: string, flag: string): number {
  const parts = s.trim().match(/\d+(?:\.\d+)?(?:ms|h|m|s)/g)
  if (!parts || parts.join('') !== s.trim()) throw new InvalidOptionsError(`${flag} takes a duration such as 30s, 5m or 1h30m, not "${s}"`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  return Math.round(parts.reduce((sum, p) => sum + parseFloat(p) * unit[p.replace(/[\d.]/g, '') as keyof typeof unit], 0))
}

/**
 * The paths a list file names, as restic reads them: `lines` one a line with blank lines and # comments
 * skipped (--files-from); `verbatim` one a line taken as it is, only empty lines skipped
 * (--files-from-verbatim); `raw` separated by NUL bytes, as `find -print0` writes them
 * (--files-from-raw). `-` reads standard input. Names must be UTF-8.
 */
function pathsFromFile(file: string, form: 'lines' | 'verbatim' | 'raw' = 'lines'): string[] {
  const flag = form === 'lines' ? '--files-from' : `--files-from-${form}`
  let bytes: Buffer
  try {
    bytes = file === '-' ? readFileSync(0) : readFileSync(file)
  } catch (e) {
    throw new InvalidOptionsError(`cannot read ${flag} ${file}: ${(e as Error).message}`)
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new InvalidOptionsError(`${flag} ${file} holds a name that is not UTF-8: back up its folder instead, or rename the file`)
  }
  if (form === 'raw') return text.split('\0').filter((p) => p !== '')
  const lines = text.split(form === 'verbatim' ? '\n' : /\r?\n/)
  return form === 'verbatim' ? lines.filter((l) => l !== '') : lines.filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
}

function snapshotRow(s: Snapshot): string {
  return `${s.shortId}  ${formatTime(s.time).padEnd(25)}  ${s.host.padEnd(12)}  ${s.tags.join(',').padEnd(10)}  ${s.paths.join(', ')}`
}

/** A reference as typed, resolved for the library; the choice said on stderr for a time. */
async function snapshotRef(repo: Repository, text: string, filter?: { host?: string }): Promise<string> {
  const { ref, description } = await resolveSnapshotRef(repo, text, filter)
  if (description && !globals().quiet && !globals().json) process.stderr.write(`using the ${description}\n`)
  return ref
}

program
  .command('init')
  .description('create a new repository')
  .addOption(new Option('--compression <mode>', 'blob compression').choices(['auto', 'zstd', 'brotli', 'off']).default('auto'))
  .option('--pack-size <size>', 'target pack size', '16M')
  .option('--kdf-memory <MiB>', 'Argon2id memory for the password, in MiB', '64')
  .option('--kdf-passes <n>', 'Argon2id passes for the password', '3')
  .option('--protect', 'a protected repository: on a bucket with versioning (and Object Lock), writers never delete nor overwrite; makes the owner key that signs its removal journal')
  .option('--owner-key-out <file>', "with --protect: write the owner's private key to this new file (else it is printed); keep it off the agent's machine")
  .action(async (o: { compression: 'auto' | 'zstd' | 'brotli' | 'off'; packSize: string; kdfMemory: string; kdfPasses: string; protect?: boolean; ownerKeyOut?: string }) => {
    const g = globals()
    if (asOfTime()) throw new InvalidOptionsError('--as-of reads a repository as it was; init creates one: leave --as-of out')
    if (o.ownerKeyOut && !o.protect) throw new InvalidOptionsError('--owner-key-out is for a protected repository: add --protect, or leave it out')
    const owner = o.protect ? generateOwnerKey() : undefined
    // Written before the repository exists: a repository whose owner key was lost could never be pruned.
    if (owner && o.ownerKeyOut) writeOwnerKeyFile(o.ownerKeyOut, owner.privateKey)
    const backend = backendFor(g.repo)
    const repo = await Repository.init({
      backend,
      ...(await readSecret(g, true)),
      compression: o.compression,
      packSize: parseSize(o.packSize),
      protect: o.protect === true,
      ...(owner ? { ownerPublicKey: owner.publicKey } : {}),
      argon2: { memLimitBytes: Number(o.kdfMemory) * 1024 * 1024, opsLimit: Number(o.kdfPasses) },
      ...cacheOptions(),
    }).catch(async (e) => {
      // The owner key goes only when its public half never reached the storage: a repository that
      // records an owner key nobody holds could never be pruned.
      const recorded = owner ? await backend.stat({ type: 'journal', name: OWNER_KEY_NAME }).then(() => true, () => false) : false
      await backend.close?.()
      if (!recorded) {
        if (o.ownerKeyOut) rmSync(o.ownerKeyOut, { force: true })
        throw e
      }
      const kept = o.ownerKeyOut ? `it is kept in ${o.ownerKeyOut}` : `here it is, keep it off the agent's machine:\n${owner!.privateKey.trim()}`
      throw Object.assign(e instanceof Error ? e : new Error(String(e)), {
        message: `${(e as Error).message}\nThe repository's owner key was recorded before this failure: ${kept}. Run "session-sync check" to see what the repository holds.`,
      })
    })
    opened.push(repo)
    const p = repo.config.protect
    const protection = p ? `protected: versioning on, ${p.objectLock ? (p.retention ? `Object Lock ${p.retention.mode} for ${p.retention.days} days` : 'Object Lock without a default retention') : 'no Object Lock'}\n` : ''
    out({ id: repo.id, location: backend.location, ...(p ? { protect: p } : {}), ...(owner ? { ownerKey: ownerKeyOutput(owner, o.ownerKeyOut) } : {}) }, () => `created repository ${repo.id.slice(0, 10)} at ${backend.location}\n${protection}${owner ? ownerKeyText(owner, o.ownerKeyOut) : ''}\nKeep the password safe: without it the data cannot be recovered.`)
  })

program
  .command('backup')
  .description('back up files and folders into a new snapshot')
  .argument('[path...]', 'files or folders to back up')
  .option('--stdin', 'back up what arrives on standard input, as one file (named by --stdin-filename)')
  .option('--stdin-filename <name>', 'the name the --stdin file gets in the snapshot', 'stdin')
  .option('--files-from <file>', 'back up the paths listed in this file, one a line (blank lines and lines starting with # are skipped; repeatable)', collect, [])
  .option('--files-from-verbatim <file>', 'back up the paths listed in this file, one a line taken as it is (only empty lines skipped; repeatable)', collect, [])
  .option('--files-from-raw <file>', 'back up the paths listed in this file, separated by NUL bytes as find -print0 writes them (repeatable)', collect, [])
  .option('--tag <tag>', 'tag the snapshot (repeatable)', collect, [])
  .option('--host <name>', 'host name recorded in the snapshot')
  .option('-e, --exclude <pattern>', 'gitignore-style pattern to leave out (repeatable)', collect, [])
  .option('--exclude-file <file>', 'file of patterns to leave out (repeatable)', collect, [])
  .option('--exclude-larger-than <size>', 'leave out files larger than this (e.g. 100M)')
  .option('--parent <snapshot>', 'snapshot to compare against for change detection')
  .option('--force', 're-read every file (no parent snapshot)')
  .option('--skip-if-unchanged', 'store no snapshot when nothing changed')
  .option('--retry-lock <duration>', 'wait up to this long (e.g. 30s, 5m) for a prune\'s exclusive lock to go away instead of failing at once')
  .option('-n, --dry-run', 'read and compare everything, store nothing: what would be added')
  .option('-v, --verbose', 'list each new and changed file (on stdout, before the summary)')
  .option('--time <time>', `record this time instead of now (as snapshots prints it, a local date or time, or 2d); the snapshot is tagged ${USER_TIME_TAG}`)
  .action(async (given: string[], o: { stdin?: boolean; stdinFilename: string; filesFrom: string[]; filesFromVerbatim: string[]; filesFromRaw: string[]; tag: string[]; host?: string; exclude: string[]; excludeFile: string[]; excludeLargerThan?: string; parent?: string; force?: boolean; skipIfUnchanged?: boolean; retryLock?: string; time?: string; dryRun?: boolean; verbose?: boolean }) => {
    let staged: string | undefined
    if (o.stdin) {
      if (given.length > 0 || o.filesFrom.length + o.filesFromVerbatim.length + o.filesFromRaw.length > 0) throw new InvalidOptionsError('--stdin backs up standard input alone: give no paths or --files-from with it')
      if (!/^[^/\0]+$/.test(o.stdinFilename) || o.stdinFilename === '.' || o.stdinFilename === '..') throw new InvalidOptionsError(`--stdin-filename takes a file name without slashes, not "${o.stdinFilename}"`)
      if (process.stdin.isTTY) throw new InvalidOptionsError('--stdin reads standard input, which is a terminal here: pipe something in (e.g. pg_dump db | session-sync backup --stdin)')
      staged = mkdtempSync(join(tmpdir(), 'session-sync-stdin-'))
      const file = join(staged, o.stdinFilename)
      try {
        await pipeline(process.stdin, createWriteStream(file, { mode: 0o600 }))
      } catch (e) {
        rmSync(staged, { recursive: true, force: true })
        throw new InvalidOptionsError(`cannot read standard input: ${(e as Error).message}`)
      }
      given = [file]
    }
    try {
      await backupCommand(given, o, staged ? [`/${o.stdinFilename}`] : undefined)
    } finally {
      if (staged) rmSync(staged, { recursive: true, force: true })
    }
  })

async function backupCommand(
  given: string[],
  o: { filesFrom: string[]; filesFromVerbatim: string[]; filesFromRaw: string[]; tag: string[]; host?: string; exclude: string[]; excludeFile: string[]; excludeLargerThan?: string; parent?: string; force?: boolean; skipIfUnchanged?: boolean; retryLock?: string; time?: string; dryRun?: boolean; verbose?: boolean },
  recordedPaths: string[] | undefined,
): Promise<void> {
  const lists = [...o.filesFrom, ...o.filesFromVerbatim, ...o.filesFromRaw]
  const paths = [...given, ...o.filesFrom.flatMap((f) => pathsFromFile(f)), ...o.filesFromVerbatim.flatMap((f) => pathsFromFile(f, 'verbatim')), ...o.filesFromRaw.flatMap((f) => pathsFromFile(f, 'raw'))]
  if (paths.length === 0) throw new InvalidOptionsError(lists.length > 0 ? `no paths in ${lists.join(', ')}: list one a line (NUL-separated for --files-from-raw)` : 'nothing to back up: give files or folders, or --files-from FILE')
  const lockWaitMs = o.retryLock === undefined ? undefined : parseWait(o.retryLock, '--retry-lock')
  const time = o.time === undefined ? undefined : parseGivenTime(o.time)
  const excludeLargerThan = o.excludeLargerThan ? parseSize(o.excludeLargerThan) : undefined
  let dry: DryRunBackend | undefined
  // With a password, the folders are listed and lstat-ed while the key derives (see Prewalk); the
  // backup stops it, and so does anything that fails before it.
  let prewalk: Prewalk | undefined
  try {
    const repo = await openRepo(o.dryRun ? (b) => (dry = withDryRun(b)) : undefined, () => (prewalk = Prewalk.start(paths)))
    const g = globals()
    const bar = new ProgressLine()
    const showBar = !g.quiet && bar.enabled
    const listed: Array<{ path: string; status: string }> = []
    const summary = await repo.backup(paths, {
      prewalk,
      consolidateIndexes: o.dryRun ? false : undefined,
      recordedPaths,
      onFile: o.verbose ? (f) => f.status !== 'unmodified' && listed.push(f) : undefined,
      signal: signalOnInterrupt(),
      tags: time ? [...new Set([...o.tag, USER_TIME_TAG])] : o.tag,
      time,
      host: o.host,
      excludes: o.exclude,
      excludeFiles: o.excludeFile,
      excludeLargerThan,
      parent: o.force ? false : o.parent,
      skipIfUnchanged: o.skipIfUnchanged,
      lockWaitMs,
      onLockWait: (h) => {
        if (!g.quiet) process.stderr.write(`waiting up to ${o.retryLock} for the exclusive lock held by pid ${h.pid} on ${h.host} since ${h.time}\n`)
      },
      onProgress: showBar ? (p) => bar.update('backup', p.filesDone, p.totalFiles, p.bytesDone, p.totalBytes) : undefined,
    })
    bar.done()
    for (const e of summary.errors) process.stderr.write(`warning: ${e.path}: ${e.message}\n`)
    for (const w of summary.warnings ?? []) process.stderr.write(`warning: ${w}\n`)
    const stored = dry ? (summary.skipped ? undefined : summary.snapshotId) : undefined
    out({ ...summary, ...(o.dryRun ? { dryRun: true, snapshotId: undefined, wouldStore: dry!.dropped } : {}), ...(o.verbose ? { files: listed } : {}) }, () =>
      [
        ...listed.map((f) => `${f.status === 'new' ? 'new     ' : 'modified'}  ${f.path}`),
        `Files:       ${summary.filesNew} new, ${summary.filesChanged} changed, ${summary.filesUnmodified} unmodified`,
        `Dirs:        ${summary.dirsNew} new, ${summary.dirsChanged} changed, ${summary.dirsUnmodified} unmodified`,
        `Added:       ${formatBytes(summary.bytesAdded)} (${formatBytes(summary.bytesStored)} stored)`,
        `Processed:   ${summary.totalFiles} files, ${formatBytes(summary.totalBytes)} in ${(summary.durationMs / 1000).toFixed(2)} s`,
        ...(summary.packsResumed > 0 ? [`Resumed:     resumed upload of an interrupted backup: ${summary.packsResumed} packs already in storage reused, not uploaded again`] : []),
        o.dryRun
          ? `Requests:    ${summary.requests.GET} GET, ${summary.requests.LIST} LIST, ${summary.requests.HEAD} HEAD; no writes (dry run)`
          : `Requests:    ${summary.requests.PUT} PUT, ${summary.requests.GET} GET, ${summary.requests.LIST} LIST, ${summary.requests.HEAD} HEAD; ${formatBytes(summary.requests.bytesUp)} up${summary.retention ? `; retention read of ${summary.retention.read}, extended ${summary.retention.extended}` : ''}`,
        o.dryRun
          ? `dry run: would add ${formatBytes(summary.bytesStored)} in ${dry!.dropped.data?.files ?? 0} packs${stored || !summary.skipped ? ' and a snapshot' : ''}; nothing was stored`
          : summary.skipped
            ? 'Nothing changed since the parent snapshot: no snapshot stored.'
            : `snapshot ${summary.snapshotId!.slice(0, 8)} saved`,
      ].join('\n'),
    )
    if (summary.errors.length > 0) process.exitCode = 3
  } finally {
    prewalk?.stop()
  }
}

program
  .command('snapshots')
  .description('list snapshots')
  .option('--host <name>', 'only snapshots of this host')
  .option('--tag <tag>', 'only snapshots with this tag (repeatable)', collect, [])
  .option('--path <path>', 'only snapshots of exactly these paths (repeatable)', collect, [])
  .action(async (o: { host?: string; tag: string[]; path: string[] }) => {
    const repo = await openRepo()
    const list = await repo.snapshots({ host: o.host, tags: o.tag.length ? o.tag : undefined, paths: o.path.length ? o.path.map((p) => resolve(p)) : undefined })
    out(list, () => (list.length === 0 ? 'no snapshots' : [`ID        Time                       Host          Tags        Paths`, ...list.map(snapshotRow), `${list.length} snapshots`].join('\n')))
  })

program
  .command('ls')
  .description('list the files in a snapshot')
  .argument('<snapshot>', 'latest, an id prefix, or an ISO time')
  .argument('[path]', 'only entries below this path inside the snapshot')
  .action(async (text: string, path: string | undefined) => {
    const repo = await openRepo()
    const ref = await snapshotRef(repo, text)
    const entries: Entry[] = []
    for await (const e of repo.ls(ref, { path })) entries.push(e)
    out(entries, () => entries.map((e) => (e.type === 'dir' ? `${e.path}/` : e.type === 'symlink' ? `${e.path} -> ${e.target}` : e.path)).join('\n'))
  })

program
  .command('restore')
  .description('restore a snapshot into a folder')
  .argument('<snapshot>', 'latest, an id prefix, or a time (the newest snapshot at or before it); <snapshot>:<folder> restores that folder\'s contents into the target itself')
  .requiredOption('-t, --target <dir>', 'folder to restore into')
  .option('-i, --include <glob>', 'restore only matching paths (repeatable): relative to the backed-up folder (notes/**) or as ls shows them (memory/notes/**)', collect, [])
  .option('-e, --exclude <glob>', 'leave out matching paths (repeatable)', collect, [])
  .option('--host <name>', 'with latest or a time: only snapshots of this host')
  .option('--no-verify-ids', 'skip recomputing every blob\'s id from its content (faster; trusts every device holding the key: see docs/SECURITY.md)')
  .option('--verify-ids', 'recompute every blob\'s id from its content (the default)')
  .addOption(new Option('--overwrite <when>', 'replace existing files: always, if-changed (size or time differs), if-newer (unless newer on disk), never').choices([...OVERWRITE_POLICIES]).default('if-newer'))
  .option('--delete', 'remove files in the target that are not in the snapshot (inside the target only)')
  .option('-n, --dry-run', 'show what would be written, replaced, kept and deleted; change nothing')
  .option('--keep-setid', 'restore set-user-ID and set-group-ID bits of files (dropped by default)')
  .addHelpText(
    'after',
    '\nA file that exists in the target is replaced as --overwrite says; with the default, if-newer, a file\nchanged on disk after the snapshot was taken is kept and listed, and the restore exits with status 3.\n' +
      'A place in the target that cannot be written (a folder where a file goes…) is reported and the restore\ngoes on with everything else; it then exits with status 3. A full or read-only target stops it (status 1).',
  )
  .action(async (refArg: string, o: { target: string; include: string[]; exclude: string[]; host?: string; overwrite: OverwritePolicy; delete?: boolean; dryRun?: boolean; verifyIds?: boolean; keepSetid?: boolean }) => {
    const repo = await openRepo(undefined, () => prestartWorkers('restore')) // loaded while a password's key derives
    const g = globals()
    const bar = new ProgressLine()
    const showBar = !g.quiet && bar.enabled && !o.dryRun
    const split = splitSnapshotRef(refArg)
    const subfolder = split.subfolder
    const ref = await snapshotRef(repo, split.ref, o.host ? { host: o.host } : undefined)
    const summary = await repo.restore(ref, o.target, {
      subfolder,
      signal: signalOnInterrupt(),
      include: o.include,
      exclude: o.exclude,
      verifyIds: o.verifyIds !== false,
      keepSetid: o.keepSetid === true,
      overwrite: o.overwrite,
      delete: o.delete === true,
      dryRun: o.dryRun === true,
      filter: o.host ? { host: o.host } : undefined,
      onProgress: showBar ? (p) => bar.update('restore', p.filesDone, p.totalFiles, p.bytesDone, p.totalBytes) : undefined,
    })
    bar.done()
    if (summary.unmatchedIncludes.length > 0) {
      const snap = await repo.findSnapshot(summary.snapshotId)
      const names = [...new Set(snap.paths.map((p) => basename(p)))]
      const which = summary.unmatchedIncludes.map((p) => `"${p}"`).join(', ')
      const done = summary.filesRestored > 0 ? `; ${summary.filesRestored} files matched the other patterns and were ${summary.dryRun ? 'planned' : 'restored'}` : ''
      throw new InvalidOptionsError(
        `--include ${which} matched nothing in snapshot ${snap.shortId}${done}. Paths in it start with ${names.map((n) => `"${n}/"`).join(', ')}; write them relative to that folder (notes/**) or from its name (${names[0] ?? 'memory'}/notes/**); "session-sync ls ${snap.shortId}" lists them`,
        { unmatched: summary.unmatchedIncludes },
      )
    }
    for (const e of summary.errors) process.stderr.write(`error: ${e.path}: ${e.message}\n`)
    const newer = summary.kept.filter((k) => k.reason === 'newer')
    if (!g.json) for (const k of summary.kept) process.stderr.write(`kept: ${k.path} (${k.reason === 'newer' ? 'newer on disk than in the snapshot; --overwrite always replaces it' : 'exists; --overwrite never'})\n`)
    out(summary, () => restoreReport(summary))
    // 3, as for a backup that could not read everything: done, but incomplete (1: failed).
    if (summary.errors.length > 0 || newer.length > 0) process.exitCode = 3
  })

function restoreReport(s: RestoreSummary): string {
  const lines: string[] = []
  if (s.dryRun && s.planned) {
    for (const p of s.planned.new) lines.push(`would write    ${p}`)
    for (const p of s.planned.replaced) lines.push(`would replace  ${p}`)
  }
  for (const p of s.deleted) lines.push(`${s.dryRun ? 'would delete   ' : 'deleted '}${p}`)
  const head = s.dryRun ? `dry run of snapshot ${s.snapshotId.slice(0, 8)} to ${s.target}, nothing changed:` : `restored snapshot ${s.snapshotId.slice(0, 8)} to ${s.target}:`
  lines.push(
    `${head} ${s.filesRestored} files, ${s.dirsRestored} dirs, ${s.symlinksRestored} symlinks, ${formatBytes(s.bytesRestored)}${s.dryRun ? '' : ` in ${(s.durationMs / 1000).toFixed(2)} s`}`,
    `files${s.dryRun ? ' (would be)' : ''}: ${s.filesNew} new, ${s.filesReplaced} replaced, ${s.filesUnchanged} unchanged, ${s.kept.length} kept (--overwrite ${s.overwrite}), ${s.deleted.length} deleted${s.errors.length > 0 ? `; ${s.errors.length} could not be restored (listed above)` : ''}`,
  )
  return lines.join('\n')
}

program
  .command('cat')
  .description(`print a decrypted repository object as JSON (${CAT_KINDS.join(', ')})`)
  .argument('<kind>', CAT_KINDS.join(' | '))
  .argument('[id]', 'object id (snapshot: also latest or a prefix)')
  .action(async (kind: string, id: string | undefined) => {
    if (!(CAT_KINDS as readonly string[]).includes(kind)) throw new InvalidOptionsError(`cannot cat "${kind}"; use one of ${CAT_KINDS.join(', ')}`)
    const repo = await openRepo()
    const value = await repo.cat(kind as CatKind, id)
    process.stdout.write(`${JSON.stringify(value, null, globals().json ? 0 : 2)}\n`)
  })

program
  .command('forget')
  .description('remove snapshots by a retention policy (per host and paths) or by id; --prune then frees their data')
  .argument('[snapshot...]', 'snapshot ids to remove (instead of a policy)')
  .option('--keep-last <n>', 'keep the n newest snapshots')
  .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last n hours that have one')
  .option('--keep-daily <n>', 'likewise for days')
  .option('--keep-weekly <n>', 'likewise for ISO weeks')
  .option('--keep-monthly <n>', 'likewise for months')
  .option('--keep-yearly <n>', 'likewise for years')
  .option('--keep-within <duration>', 'keep everything within this time of the newest snapshot (e.g. 30d, 2w, 1y6m)')
  .option('--keep-tag <tag>', 'keep snapshots with this tag (repeatable)', collect, [])
  .option('--host <name>', 'only snapshots of this host')
  .option('--group-by <fields>', 'group snapshots by host,paths,tags (comma-separated; "" for one group)', 'host,paths')
  .option('--prune', 'prune after forgetting')
  .option('-n, --dry-run', 'show what would be removed and why, remove nothing')
  .action(async (ids: string[], o: Record<string, string | string[] | boolean | undefined>) => {
    const num = (v: unknown, flag: string) => (v === undefined ? undefined : parseNumber(String(v), flag))
    const dryRun = !!o.dryRun
    const policyFlags = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly', 'keepWithin'].filter((k) => o[k] !== undefined)
    if (ids.length > 0 && (policyFlags.length > 0 || (o.keepTag as string[]).length > 0)) throw new InvalidOptionsError('give snapshot ids or --keep-* rules, not both')
    const repo = await openRepo()
    if (ids.length > 0) {
      const r = await repo.forgetSnapshots(ids, { dryRun })
      let pruned: PruneSummary | undefined
      if (o.prune && !dryRun) pruned = await repo.prune()
      out({ ...r, prune: pruned }, () => `${dryRun ? 'would remove' : 'removed'} ${r.removed} snapshots${pruned ? `; pruned ${formatBytes(pruned.bytesFreed)}` : ''}`)
      return
    }
    const policy: RetentionPolicy = {
      keepLast: num(o.keepLast, '--keep-last'),
      keepHourly: num(o.keepHourly, '--keep-hourly'),
      keepDaily: num(o.keepDaily, '--keep-daily'),
      keepWeekly: num(o.keepWeekly, '--keep-weekly'),
      keepMonthly: num(o.keepMonthly, '--keep-monthly'),
      keepYearly: num(o.keepYearly, '--keep-yearly'),
      keepWithin: o.keepWithin as string | undefined,
      keepTags: (o.keepTag as string[]).length ? (o.keepTag as string[]) : undefined,
    }
    const groupBy = String(o.groupBy).split(',').filter(Boolean) as Array<'host' | 'paths' | 'tags'>
    const r = await repo.forget(policy, { dryRun, groupBy, host: o.host as string | undefined })
    for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`)
    let pruned: PruneSummary | undefined
    if (o.prune && !dryRun) pruned = await repo.prune()
    out({ ...r, prune: pruned }, () => {
      const lines: string[] = []
      for (const g of r.groups) {
        lines.push(`group ${g.key}:`)
        for (const d of g.decisions) lines.push(`  ${d.keep ? 'keep  ' : 'remove'} ${d.snapshot.shortId}  ${formatTime(d.snapshot.time)}  ${d.reasons.join(', ')}${d.snapshot.futureDated ? ` (dated in the future: judged by its storage time ${formatTime(d.snapshot.storedAt!)})` : d.snapshot.suspicious ? ` (suspicious: its time does not fit its storage time ${formatTime(d.snapshot.storedAt!)}${d.snapshot.timeGiven ? ', set with --time' : ''}; judged by that)` : ''}`)
      }
      lines.push(`${dryRun ? 'would remove' : 'removed'} ${r.removed} snapshots, kept ${r.kept}${pruned ? `; pruned ${formatBytes(pruned.bytesFreed)}` : ''}`)
      return lines.join('\n')
    })
  })

program
  .command('prune')
  .description('remove data no snapshot needs (mark and sweep, under an exclusive lock)')
  .option('-n, --dry-run', 'show the plan, change nothing')
  .option('--max-unused <percent>', 'unused space to leave, as a share of the repository: the most unused packs are repacked until the rest is within it (0: repack every partly used pack)', '5')
  .option('--unindexed-grace <hours>', 'delete stored-but-unindexed packs only when older than this', '24')
  .option('--repack <pack>', 'also rewrite this pack (its full id; repeatable): for a pack check found damaged with every blob intact', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--ignore-unreadable-snapshots', 'prune although some snapshot files cannot be read, deleting the data only they use: they can never be restored, even from a copy of their file (prefer "forget <id>" of each)')
  .action(async (o: { dryRun?: boolean; maxUnused: string; unindexedGrace: string; repack: string[]; ignoreUnreadableSnapshots?: boolean }) => {
    const maxUnused = parseNumber(o.maxUnused, '--max-unused') / 100
    const grace = parseNumber(o.unindexedGrace, '--unindexed-grace') * 3600_000
    const repo = await openRepo()
    const r = await repo.prune({ dryRun: o.dryRun, maxUnused, unindexedGraceMs: grace, repack: o.repack, ignoreUnreadableSnapshots: o.ignoreUnreadableSnapshots })
    out(r, () => {
      const st = r.plan.stats
      const idle = st.packsToDelete === 0 && st.packsToRepack === 0 && r.plan.unindexedToDelete.length === 0 && r.plan.adopted === 0 && r.plan.damagedIndexFiles.length === 0 && r.plan.mergeIndexFilesInto === 0
      return [
        `snapshots: ${st.snapshots}; blobs used ${st.usedBlobs}, unused ${st.unusedBlobs}, duplicate ${st.duplicateBlobs}`,
        `packs: delete ${st.packsToDelete}, repack ${st.packsToRepack}, keep ${st.packsToKeep}; unindexed: delete ${r.plan.unindexedToDelete.length}, keep ${r.plan.unindexedKept} (younger than the grace period)`,
        ...(r.plan.adopted > 0 ? [`${r.dryRun ? 'would index' : 'indexed'} ${r.plan.adopted} packs no readable index named`] : []),
        ...(r.plan.damagedIndexFiles.length > 0 ? [`damaged index files ${r.dryRun ? 'to delete' : 'deleted'}: ${r.plan.damagedIndexFiles.join(', ')}`] : []),
        ...(r.plan.mergeIndexFilesInto > 0 ? [`${r.dryRun ? 'would merge' : 'merged'} ${r.plan.indexFiles.length} index files into ${r.plan.mergeIndexFilesInto}`] : []),
        idle
          ? `nothing to do: no pack ${r.dryRun ? 'would be' : 'was'} deleted or rewritten, and the index ${r.dryRun ? 'would stay' : 'stays'} as it is`
          : r.dryRun
            ? `would free about ${formatBytes(st.bytesToDelete)} and rewrite ${formatBytes(st.bytesToRepack)}`
            : `freed ${formatBytes(r.bytesFreed)}; wrote ${r.packsWritten} packs and ${r.indexFilesWritten} index files`,
      ].join('\n')
    })
  })

program
  .command('check')
  .description('verify the repository; never modifies it')
  .option('--read-data', 'also download every pack and verify every blob')
  .option('--read-data-subset <subset>', 'download part of the packs: n/m or P%')
  .option('--versions', "also list the storage's object versions and name the delete markers and overwrites no trusted operation made (a bucket with versioning)")
  .action(async (o: { readData?: boolean; readDataSubset?: string; versions?: boolean }) => {
    const repo = await openRepo(undefined, o.readData || o.readDataSubset !== undefined ? () => prestartWorkers('check') : undefined) // loaded while a password's key derives
    const r = await repo.check({ readData: o.readData, readDataSubset: o.readDataSubset })
    const v = o.versions ? await repo.checkVersions() : undefined
    const when = (e: { time?: Date }) => (e.time ? ` (stored ${e.time.toISOString()})` : '')
    out(v ? { ...r, versions: v } : r, () => {
      const vlines = v
        ? [
            ...v.unexplainedDeletes.map((e) => `error: unexplained-delete: ${e.type}/${e.name} has a delete marker${when(e)} that no trusted operation recorded: a writer with delete rights, or the storage's owner outside session-sync`),
            ...v.overwrites.map((e) => `error: overwritten: ${e.type}/${e.name} was stored again with other bytes${when(e)}: no writer of this repository overwrites; recover --as-of skips it`),
            ...v.forgedJournalRecords.map((f) => `error: forged-journal-record: journal record ${f.name} ${f.why}: written with the repository key by someone without the owner key (a compromised writer); it explains nothing`),
            ...v.unreadableJournalRecords.map((n) => `warning: journal record ${n} cannot be read`),
            ...(v.unsignedJournalRecords.length > 0 ? [`warning: ${v.unsignedJournalRecords.length} journal records are not signed (written before an owner key was recorded${v.ownerKey ? '' : '; record one with "session-sync key owner --init"'}): anyone holding the repository key could have written them`] : []),
            `versions: ${v.versionsListed} listed, ${v.explainedDeletes} delete markers recorded by trusted operations (${v.journalRecords} journal records: ${v.signedJournalRecords} signed by the owner key${v.ownerKey ? ` ${ownerKeyFingerprint(v.ownerKey.publicKey)}…` : ''}, ${v.unsignedJournalRecords.length} unsigned, ${v.forgedJournalRecords.length} forged), ${v.unexplainedDeletes.length} unexplained, ${v.overwrites.length} overwrites`,
          ]
        : []
      // The message names the object (p.object is for programs): printing both said it twice.
      const lines = r.problems.map((p) => `${isWarning(p.kind) ? 'warning' : 'error'}: ${p.kind}: ${p.message}`)
      const advice = adviceFor(r.problems)
      if (advice.length > 0) lines.push('what to do:', ...advice.map((a) => `  - ${a}`))
      lines.push(`${r.counts.snapshots} snapshots, ${r.counts.indexFiles} index files, ${r.counts.packs} packs, ${r.counts.blobs} blobs, ${r.counts.trees} trees; read ${r.counts.packsRead} packs`)
      lines.push(...vlines)
      if (r.retention) {
        // Objects a writer's backup left short (its credential may not extend retention), extended here: named, as they were at risk.
        for (const key of r.retention.extendedObjects) lines.push(`extended: ${key} was locked for less than a snapshot that needs it requires; now locked until ${r.retention.extendedUntil ?? '?'}`)
        lines.push(`retention: ${r.retention.objects} objects the snapshots need, ${r.retention.extended} extended${r.retention.lapsing.length > 0 ? `, ${r.retention.lapsing.length} locked too briefly` : ''}`)
      }
      const errors = r.problems.filter((p) => !isWarning(p.kind)).length + (v ? v.unexplainedDeletes.length + v.overwrites.length + v.forgedJournalRecords.length : 0)
      lines.push(errors === 0 ? 'no errors were found' : `${errors} errors found`)
      return lines.join('\n')
    })
    if (!r.ok || (v && !v.ok)) process.exitCode = 1
  })

program
  .command('doctor')
  .description("prove the storage's protections with the credential at hand, on a canary object (writes one small object)")
  .action(async () => {
    const repo = await openRepo()
    const r = await repo.doctor()
    const mark = { observed: 'ok  ', 'not-observed': 'NO  ', unknown: '??  ' } as const
    out(r, () => [`${r.location}${r.protectedRepository ? ' (protected repository)' : ''}`, ...r.checks.map((c) => `${mark[c.status]}${c.check}: ${c.detail}`)].join('\n'))
    if (!r.ok) process.exitCode = 1
  })

program
  .command('recover')
  .description('copy the repository as it was at --as-of TIME (default: now, skipping later overwrites), read from the object versions, into a new location')
  .requiredOption('--to <location>', 'where the copy goes: a new folder, or an S3 prefix (s3:BUCKET/NEW-PREFIX), same credentials and S3 options')
  .action(async (o: { to: string }) => {
    const view = asOf(backendFor(globals().repo), asOfTime() ?? AS_OF_NOW)
    const target = backendFor(o.to)
    try {
      const r = await recoverTo(view, target)
      const files = Object.values(r.copied).reduce((a, b) => a + b, 0)
      out({ asOf: view.asOf, to: target.location, ...r }, () => `copied the repository as of ${view.asOf.getTime() === AS_OF_NOW.getTime() ? 'now' : view.asOf.toISOString()} to ${target.location}: ${files} files, ${formatBytes(r.bytes)} (${r.copied.snapshots} snapshot files, ${r.copied.data} packs)${r.alreadyThere > 0 ? `; ${r.alreadyThere} were there already` : ''}`)
    } finally {
      await view.close()
      await target.close?.()
    }
  })

program
  .command('unlock')
  .description('remove stale locks (left by processes that died)')
  .option('--remove-all', 'remove every lock, even live ones')
  .action(async (o: { removeAll?: boolean }) => {
    const repo = await openRepo()
    const removed = await repo.unlock({ all: o.removeAll })
    out(removed, () => `removed ${removed.length} locks`)
  })

program
  .command('stats')
  .description('sizes, deduplication and compression')
  .action(async () => {
    const repo = await openRepo()
    const s = await repo.stats()
    out(s, () =>
      [
        `snapshots:        ${s.snapshots}`,
        `files (all snapshots): ${s.totalFiles}, ${formatBytes(s.totalFileBytes)}`,
        `unique data:      ${formatBytes(s.rawBytes)} in ${s.blobs} blobs (dedup ${s.dedupRatio.toFixed(2)}x)`,
        `stored:           ${formatBytes(s.storedBlobBytes)} (compression ${s.compressionRatio.toFixed(2)}x), ${s.packs} packs of ${formatBytes(s.packBytes)}`,
      ].join('\n'),
    )
  })

program
  .command('diff')
  .description('paths added, removed and modified between two snapshots')
  .argument('<from>')
  .argument('<to>')
  .action(async (a: string, b: string) => {
    const repo = await openRepo()
    const d = await repo.diff(await snapshotRef(repo, a), await snapshotRef(repo, b))
    out(d, () => [...d.added.map((p) => `+ ${p}`), ...d.removed.map((p) => `- ${p}`), ...d.modified.map((p) => `M ${p}`), `${d.added.length} added, ${d.removed.length} removed, ${d.modified.length} modified`].join('\n'))
  })

program
  .command('find')
  .description('which snapshots hold paths matching a glob')
  .argument('<pattern>', 'a name glob (*.md) or a path glob (memory/notes/**)')
  .action(async (pattern: string) => {
    const repo = await openRepo()
    const m = await repo.find(pattern)
    out(m, () => (m.length === 0 ? 'no matches' : m.map((x) => `${x.snapshot.slice(0, 8)}  ${formatTime(x.time)}  ${x.entry.path}`).join('\n')))
  })

program
  .command('dump')
  .description('write a file of a snapshot to stdout, or a folder as a tar or zip archive')
  .argument('<snapshot>', 'latest, an id prefix, or a time')
  .argument('<path>', 'a file or folder as ls prints it, or relative to the backed-up folder; / for the whole snapshot')
  .option('-o, --target <file>', 'write to this file instead of stdout')
  .option('-a, --archive <format>', 'how a folder is written: tar or zip', 'tar')
  .action(async (text: string, path: string, o: { target?: string; archive: string }) => {
    if (globals().json) throw new InvalidOptionsError('dump writes the file itself, not JSON: leave out --json')
    if (o.archive !== 'tar' && o.archive !== 'zip') throw new InvalidOptionsError(`--archive ${o.archive} is not known: give tar or zip`)
    const repo = await openRepo()
    const d = await repo.dump(await snapshotRef(repo, text), path, { archive: o.archive, signal: signalOnInterrupt() })
    if (!o.target && process.stdout.isTTY && d.entry.type === 'dir') throw new InvalidOptionsError(`${d.entry.path || 'the snapshot'} is a folder: its ${o.archive} archive would go to the terminal; redirect stdout (> out.${o.archive}) or give --target FILE`)
    const sink = o.target ? createWriteStream(o.target) : process.stdout
    await pipeline(Readable.from(d.chunks, { objectMode: false }), sink, { end: !!o.target })
  })

program
  .command('tag')
  .description('add, remove or set the tags of snapshots (each changed snapshot gets a new id)')
  .argument('[snapshot...]', 'snapshots (latest, id prefixes, times); none: every snapshot --host/--tag/--path select')
  .option('--add <tag>', 'add this tag (repeatable)', collect, [])
  .option('--remove <tag>', 'remove this tag (repeatable)', collect, [])
  .option('--set <tag>', 'replace every tag with these (repeatable; alone; --set "" removes every tag)', collect, [])
  .option('--host <name>', 'without snapshots named: only snapshots of this host')
  .option('--tag <tag>', 'without snapshots named: only snapshots with this tag (repeatable)', collect, [])
  .option('--path <path>', 'without snapshots named: only snapshots of exactly these paths (repeatable)', collect, [])
  .action(async (refs: string[], o: { add: string[]; remove: string[]; set: string[]; host?: string; tag: string[]; path: string[] }) => {
    const repo = await openRepo()
    const filtered = refs.length === 0
    const ids = filtered
      ? (await repo.snapshots({ host: o.host, tags: o.tag.length ? o.tag : undefined, paths: o.path.length ? o.path.map((p) => resolve(p)) : undefined })).map((s) => s.id)
      : await Promise.all(refs.map((r) => snapshotRef(repo, r)))
    if (filtered && ids.length === 0) throw new InvalidOptionsError('no snapshot matches --host/--tag/--path')
    const r = await repo.tag(ids, { add: o.add, remove: o.remove, set: o.set.length > 0 ? o.set.filter((t) => t !== '') : undefined, signal: signalOnInterrupt() })
    out(r, () => [...r.changed.map((c) => `${c.from.slice(0, 8)} -> ${c.to.slice(0, 8)}  tags: ${c.tags.join(',') || '(none)'}`), `changed ${r.changed.length} snapshots, ${r.unchanged.length} already as asked`].join('\n'))
  })

program
  .command('copy')
  .description('copy snapshots from another repository into this one (restored and backed up again, one at a time)')
  .argument('[snapshot...]', 'snapshots of the source repository (default: all that --host/--tag/--path select)')
  .option('--from-repo <location>', 'the source repository (env SESSION_SYNC_FROM_REPOSITORY)')
  .option('--from-password-file <file>', 'the source\'s password from a file (env SESSION_SYNC_FROM_PASSWORD_FILE; SESSION_SYNC_FROM_PASSWORD holds it directly)')
  .option('--from-password-command <command>', 'the source\'s password from a command (env SESSION_SYNC_FROM_PASSWORD_COMMAND)')
  .option('--from-key-file <file>', 'the source\'s raw key from a file (env SESSION_SYNC_FROM_KEY_FILE; SESSION_SYNC_FROM_KEY holds it directly)')
  .option('--host <name>', 'only snapshots of this host')
  .option('--tag <tag>', 'only snapshots with this tag (repeatable)', collect, [])
  .option('--path <path>', 'only snapshots of exactly these paths (repeatable)', collect, [])
  .action(async (refs: string[], o: { fromRepo?: string; fromPasswordFile?: string; fromPasswordCommand?: string; fromKeyFile?: string; host?: string; tag: string[]; path: string[] }) => {
    const env = process.env
    const fromLoc = o.fromRepo ?? env.SESSION_SYNC_FROM_REPOSITORY
    if (!fromLoc) throw new InvalidOptionsError('no source repository: give --from-repo or set SESSION_SYNC_FROM_REPOSITORY')
    if (asOfTime()) throw new InvalidOptionsError('--as-of would make --repo, which copy writes into, a read-only view of the past: leave it out (to copy a repository as it was, use recover --as-of TIME --to LOCATION)')
    // The source's secret, read as the destination's is but from the FROM_ names.
    const fromSecret = await withEnv(
      { SESSION_SYNC_PASSWORD: env.SESSION_SYNC_FROM_PASSWORD, SESSION_SYNC_PASSWORD_FILE: env.SESSION_SYNC_FROM_PASSWORD_FILE, SESSION_SYNC_PASSWORD_COMMAND: env.SESSION_SYNC_FROM_PASSWORD_COMMAND, SESSION_SYNC_KEY: env.SESSION_SYNC_FROM_KEY, SESSION_SYNC_KEY_FILE: env.SESSION_SYNC_FROM_KEY_FILE },
      () => readSecret({ passwordFile: o.fromPasswordFile, passwordCommand: o.fromPasswordCommand, keyFile: o.fromKeyFile }, false),
    )
    const dest = await openRepo()
    const fromBackend = backendFor(fromLoc)
    const source = await Repository.open({ backend: fromBackend, ...fromSecret, ...cacheOptions() }).catch(async (e) => {
      await fromBackend.close?.()
      throw e
    })
    opened.push(source)
    if (source.id === dest.id) throw new InvalidOptionsError('the source and the destination are the same repository')
    const chosen =
      refs.length > 0
        ? await Promise.all(refs.map(async (r) => source.findSnapshot(await snapshotRef(source, r))))
        : await source.snapshots({ host: o.host, tags: o.tag.length ? o.tag : undefined, paths: o.path.length ? o.path.map((p) => resolve(p)) : undefined })
    const signal = signalOnInterrupt()
    // A snapshot is in the destination already when one there has its time, host and paths.
    const key = (s: Snapshot) => JSON.stringify([s.time.toISOString(), s.host, s.paths])
    const present = new Set((await dest.snapshots()).map(key))
    const copied: Array<{ from: string; to: string }> = []
    const skipped: string[] = []
    for (const s of chosen.sort((a, b) => a.time.getTime() - b.time.getTime())) {
      if (present.has(key(s))) {
        skipped.push(s.id)
        continue
      }
      const staged = mkdtempSync(join(tmpdir(), 'session-sync-copy-'))
      try {
        await source.restore(s.id, staged, { signal })
        // Restored as STAGED/<name of each backed-up path>: backed up again under the original paths.
        const paths = s.paths.map((p) => join(staged, basename(p)))
        const r = await dest.backup(paths, { signal, recordedPaths: s.paths, time: s.time, host: s.host, tags: s.tags })
        copied.push({ from: s.id, to: r.snapshotId! })
        present.add(key(s))
        if (!globals().json && !globals().quiet) process.stderr.write(`copied ${s.shortId} (${formatTime(s.time)}, ${s.host}) as ${r.snapshotId!.slice(0, 8)}\n`)
      } finally {
        rmSync(staged, { recursive: true, force: true })
      }
    }
    out({ copied, skipped }, () => `copied ${copied.length} snapshots, ${skipped.length} already in the destination`)
  })

/** Runs fn with some environment variables set (unset where undefined), then puts them back. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k]
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  try {
    return await fn()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

const key = program.command('key').description('manage the passwords and keys that open the repository')
key
  .command('list')
  .action(async () => {
    const repo = await openRepo()
    const keys = await repo.keyFiles()
    out(keys, () => keys.map((k) => `${k.current ? '*' : ' '} ${k.id.slice(0, 10)}  ${k.kdf.padEnd(10)}  ${k.user}@${k.host}  ${k.created}`).join('\n'))
  })
key
  .command('add')
  .description('add a password (from SESSION_SYNC_NEW_PASSWORD, --new-password-file, or a prompt)')
  .option('--new-password-file <file>')
  .action(async (o: { newPasswordFile?: string }) => {
    const repo = await openRepo()
    const id = await repo.addKey(await newSecret(o.newPasswordFile))
    out({ id }, () => `added key ${id.slice(0, 10)}`)
  })
key
  .command('remove')
  .argument('<id>', 'key id or prefix')
  .action(async (ref: string) => {
    const repo = await openRepo()
    const id = await repo.removeKey(ref)
    out({ id }, () => `removed key ${id.slice(0, 10)}`)
  })
key
  .command('passwd')
  .description('replace the current password (data is not re-encrypted)')
  .option('--new-password-file <file>')
  .action(async (o: { newPasswordFile?: string }) => {
    const repo = await openRepo()
    const id = await repo.changePassword(await newSecret(o.newPasswordFile))
    out({ id }, () => `changed the password; new key ${id.slice(0, 10)}`)
  })

key
  .command('owner')
  .description("the owner key that signs a protected repository's removal journal: shows the one recorded, or records one (--init) in a protected repository made without")
  .option('--init', 'make an owner key pair and record its public key (once: it is never replaced)')
  .option('--owner-key-out <file>', "with --init: write the owner's private key to this new file (else it is printed); keep it off the agent's machine")
  .action(async (o: { init?: boolean; ownerKeyOut?: string }) => {
    if (o.ownerKeyOut && !o.init) throw new InvalidOptionsError('--owner-key-out is for --init')
    if (asOfTime() && o.init) throw new InvalidOptionsError('--as-of reads a repository as it was; key owner --init records a key: leave --as-of out')
    const repo = await openRepo()
    if (!o.init) {
      const k = await repo.ownerKey()
      out({ ownerKey: k ?? null }, () =>
        k
          ? `owner key ${ownerKeyFingerprint(k.publicKey)}… (${k.publicKey})${k.storedAt ? `, recorded ${k.storedAt.toISOString()}` : ''}: trusted prune and forget sign the removal journal with it`
          : `no owner key recorded${repo.protected ? ': journal records are sealed only with the repository key, which writers hold too; record one with "session-sync key owner --init --owner-key-out FILE"' : ' (only a protected repository has one)'}`,
      )
      return
    }
    if (!repo.protected) throw new InvalidOptionsError('only a protected repository (init --protect) has an owner key: its removal journal is what the key signs')
    const owner = generateOwnerKey()
    if (o.ownerKeyOut) writeOwnerKeyFile(o.ownerKeyOut, owner.privateKey)
    try {
      await repo.recordOwnerKey(owner.publicKey)
    } catch (e) {
      if (o.ownerKeyOut) rmSync(o.ownerKeyOut, { force: true })
      throw e
    }
    out({ ownerKey: ownerKeyOutput(owner, o.ownerKeyOut) }, () => ownerKeyText(owner, o.ownerKeyOut))
  })

/** A new owner key for --json: the private half only where it was not written to a file. */
function ownerKeyOutput(owner: OwnerKeyPair, file: string | undefined): Record<string, string> {
  return { publicKey: owner.publicKey, ...(file ? { privateKeyFile: file } : { privateKey: owner.privateKey }) }
}

function ownerKeyText(owner: OwnerKeyPair, file: string | undefined): string {
  const where = file ? `written to ${file}` : `below: save it to a file now, it is shown only this once\n${owner.privateKey.trimEnd()}`
  return `owner key ${ownerKeyFingerprint(owner.publicKey)}… recorded; its private key is ${where}\nKeep the owner key off the agent's machine: trusted prune and forget need it (--trusted --owner-key FILE), and only journal records it signs explain deletes.\n`
}

async function newSecret(file: string | undefined): Promise<{ password: string }> {
  if (file) return { password: readFileSync(file, 'utf8').replace(/\r?\n$/, '') }
  if (process.env.SESSION_SYNC_NEW_PASSWORD) return { password: process.env.SESSION_SYNC_NEW_PASSWORD }
  const s = await readSecret({}, true, true)
  return { password: s.password! }
}

const ENVIRONMENT = `
Environment (a flag wins over its variable):
  SESSION_SYNC_REPOSITORY, SESSION_SYNC_REPOSITORY_FILE     the repository (--repo, --repository-file)
  SESSION_SYNC_PASSWORD, SESSION_SYNC_PASSWORD_FILE,
  SESSION_SYNC_PASSWORD_COMMAND                             the password (--password-file, --password-command)
  SESSION_SYNC_KEY, SESSION_SYNC_KEY_FILE                   a raw key instead of a password (--key-file)
  SESSION_SYNC_OWNER_KEY, SESSION_SYNC_OWNER_KEY_FILE       the owner key of a protected repository (--owner-key)
  SESSION_SYNC_CACHE_DIR, SESSION_SYNC_NO_CACHE=1           the local cache (--cache-dir, --no-cache)
  SESSION_SYNC_S3_TIMEOUT, SESSION_SYNC_RETRY_DEADLINE      storage timeouts (--s3-timeout, --retry-deadline)
  SESSION_SYNC_LIMIT_UPLOAD, SESSION_SYNC_LIMIT_DOWNLOAD    rate limits in KiB/s (--limit-upload, --limit-download)
  SESSION_SYNC_CACERT                                       a CA certificate file for an https S3 endpoint (--cacert)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, AWS_REGION,
  AWS_ENDPOINT_URL_S3                                       S3 credentials and endpoint`

/** One example per repository command, shown at the end of its help. */
const EXAMPLES: Record<string, string> = {
  init: 'session-sync -r /mnt/backup/repo --password-file ~/.config/session-sync/password init',
  backup: "session-sync -r s3:my-bucket/laptop backup ~/notes -e '*.tmp' --tag daily",
  snapshots: 'session-sync -r /mnt/backup/repo snapshots --host laptop',
  ls: 'session-sync -r /mnt/backup/repo ls latest notes',
  restore: 'session-sync -r /mnt/backup/repo restore latest:notes --target ~/notes-restored',
  cat: 'session-sync -r /mnt/backup/repo cat snapshot latest',
  forget: 'session-sync -r /mnt/backup/repo forget --keep-daily 7 --keep-weekly 4 --prune',
  prune: 'session-sync -r /mnt/backup/repo prune --dry-run',
  check: 'session-sync -r /mnt/backup/repo check --read-data-subset 10%',
  unlock: 'session-sync -r /mnt/backup/repo unlock',
  stats: 'session-sync -r /mnt/backup/repo stats',
  diff: 'session-sync -r /mnt/backup/repo diff latest~1 latest',
  find: "session-sync -r /mnt/backup/repo find '*.md'",
  dump: 'session-sync -r /mnt/backup/repo dump latest notes/todo.md > todo.md\n  session-sync -r /mnt/backup/repo dump --archive zip latest notes > notes.zip',
  tag: 'session-sync -r /mnt/backup/repo tag --add keep latest',
  copy: 'SESSION_SYNC_FROM_PASSWORD_FILE=~/.config/session-sync/password session-sync -r s3:my-bucket/laptop copy --from-repo /mnt/backup/repo',
  recover: 'session-sync -r s3:my-bucket/laptop --as-of "2026-12-05 10:00:00+01:00" recover --to s3:my-bucket/laptop-recovered',
  'key list': 'session-sync -r /mnt/backup/repo key list',
  'key add': 'SESSION_SYNC_NEW_PASSWORD=… session-sync -r /mnt/backup/repo key add',
  'key remove': 'session-sync -r /mnt/backup/repo key remove 3f2a9c',
  'key passwd': 'session-sync -r /mnt/backup/repo key passwd --new-password-file new-password.txt',
}

/** The repository commands' help shows the global options, the environment and an example. */
function addUsageHelp(commands: readonly Command[], parent = ''): void {
  for (const c of commands) {
    const name = parent ? `${parent} ${c.name()}` : c.name()
    if (c.commands.length > 0) {
      addUsageHelp(c.commands, name)
      continue
    }
    c.configureHelp({ showGlobalOptions: true })
    c.addHelpText('after', `${ENVIRONMENT}${EXAMPLES[name] ? `\n\nExample:\n  ${EXAMPLES[name]}` : ''}`)
  }
}
addUsageHelp(program.commands)

registerSyncCommands(program, { out, signalOnInterrupt })
registerDashboardCommand(program, { openRepo: () => openRepo() })

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv)
    // Whatever listed the snapshots went on past unreadable ones: say which, and what to do.
    for (const r of opened) for (const p of r.snapshotProblems) process.stderr.write(`warning: ${p.error.message} The other snapshots are not affected; remove this one with "session-sync forget ${p.id}".\n`)
    // Snapshots dated after the storage received them: ordered and kept by their storage time.
    for (const r of opened)
      for (const s of r.futureSnapshots)
        process.stderr.write(
          `warning: snapshot ${s.shortId} is dated ${s.time.toISOString()} but was stored at ${s.storedAt!.toISOString()}: a clock far ahead, or a snapshot planted to look newest; it is ordered and kept by its storage time. Check its host (${s.host}) and remove it with "session-sync forget ${s.id}" if it is not yours.\n`,
        )
  } catch (e) {
    const json = program.opts<GlobalOptions>().json
    if (e instanceof CommanderError) {
      // Already said (usageError); help and --version end here too, with status 0.
      process.exitCode = e.exitCode
    } else if (e instanceof SessionSyncError) {
      if (json) process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message } })}\n`)
      // ^C echoes on the terminal after the progress line: the message starts on a line of its own.
      const fresh = e.code === 'ABORTED' && process.stderr.isTTY ? '\r\x1b[K\n' : ''
      process.stderr.write(`${fresh}session-sync: ${e.message}\n`)
      process.exitCode = e.code === 'ABORTED' ? (stoppedBy === 'SIGTERM' ? 143 : 130) : 1
    } else {
      const msg = e instanceof Error ? e.message : String(e)
      if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'INTERNAL', message: msg } })}\n`)
      process.stderr.write(`session-sync: unexpected error: ${msg}\n`)
      if (process.env.SESSION_SYNC_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`)
      process.exitCode = 1
    }
  } finally {
    for (const r of opened) await r.close().catch(() => {})
  }
}

void main()
