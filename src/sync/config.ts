/**
 * The sync's configuration: one schema for the workspace file and the plugin's config.
 *
 * - The workspace file, `session-sync-config.json` in the workspace root, is JSON with comments
 *   (line and block) and trailing commas. The OpenClaw plugin's config object has the same keys.
 * - `SyncConfigSchema` (a plain JSON Schema, which TypeBox takes as it is, and the plugin
 *   manifest's) validates both. Every key is optional, so an unconfigured plugin still loads; unknown keys are
 *   warnings, not errors, with a suggestion when one is close to a known key.
 * - `resolveConfig` merges the two (the plugin wins), applies defaults, checks what the provider
 *   needs, and warns about secrets found in the workspace, where the agent can read them.
 * - A `ConfigFingerprint` is the non-secret part of a resolved config; `weakenings` compares two
 *   of them and names the changes that protect the workspace less.
 *
 * No message or warning ever holds a secret's value.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ParseError } from 'jsonc-parser'
import type { Ignore } from 'ignore'
import { providerOptions, type S3Options, type S3Provider } from '../library.js'
import { ConfigError, NotConfiguredError, UnresolvedSecretError } from './errors.js'

const require = createRequire(import.meta.url)

/** Name of the config file in the workspace root. */
export const CONFIG_FILE_NAME = 'session-sync-config.json'

/** Where the backups can go: a local folder or one of the S3-compatible providers. */
export const SYNC_PROVIDERS = ['local', 's3', 'backblaze', 'r2', 'wasabi', 'minio', 'custom'] as const

export type SyncProvider = (typeof SYNC_PROVIDERS)[number]

/** The keys that hold secrets. */
export const SECRET_KEYS = ['key_id', 'secret_key', 'encryption_key', 'passphrase'] as const

export type SecretKey = (typeof SECRET_KEYS)[number]

/** Defaults of the optional settings (also written into the schema for the manifest). */
export const CONFIG_DEFAULTS = { interval_minutes: 15, retention_days: 30, enabled: true, debounce_seconds: 5, shrink_alarm_percent: 30, transcripts: false } as const

const DEVICE_PATTERN = '^[A-Za-z0-9._-]{1,64}$'
// Standard base64 of exactly 32 bytes, as `openssl rand -base64 32` prints it: 43 characters and "=".
const KEY_PATTERN = '^[A-Za-z0-9+/]{43}=$'

/** A JSON Schema property of the config (the subset the schema below uses). */
interface PropertySchema {
  type: 'string' | 'number' | 'boolean' | 'array'
  description?: string
  enum?: readonly string[]
  minLength?: number
  pattern?: string
  format?: string
  minimum?: number
  exclusiveMinimum?: number
  maximum?: number
  default?: unknown
  items?: PropertySchema
}

const str = (description: string, more: Partial<PropertySchema> = {}): PropertySchema => ({ type: 'string', description, ...more })
const num = (description: string, more: Partial<PropertySchema> = {}): PropertySchema => ({ type: 'number', description, ...more })

/**
 * The config of the agent-memory sync, as the workspace file and the plugin config spell it: a
 * plain JSON Schema, which is also a TypeBox schema (TypeBox's `Value.Check` takes it as it is, as a
 * test shows) and what the plugin manifest declares. It is written out rather than built with
 * TypeBox's `Type` at load time: importing TypeBox took 100+ ms, on every CLI start.
 */
export const SyncConfigSchema = {
  type: 'object',
  description: "session-sync-cloud: encrypted, deduplicated backups of the agent's workspace memory.",
  properties: {
    provider: {
      type: 'string',
      enum: SYNC_PROVIDERS,
      description: 'Where the backups go: "local" (a folder), "s3" (AWS), "backblaze" (B2), "r2" (Cloudflare), "wasabi", "minio" or "custom" (any S3-compatible endpoint).',
    },
    path: str('The repository folder for provider "local"; a relative path is read from the workspace folder.', { minLength: 1 }),
    endpoint: str('The S3 endpoint URL: required for "minio" and "custom" (e.g. http://127.0.0.1:9000); for "s3", another S3-compatible server. The other providers derive theirs.', { format: 'uri', pattern: '^https?://' }),
    bucket: str('The bucket name (without folders: those go in path_prefix).', { pattern: '^[^/\\s]+$' }),
    region: str('The region: required for "backblaze" (e.g. us-west-004); optional for "s3" and "wasabi" (default us-east-1).', { minLength: 1 }),
    account_id: str('The Cloudflare account id, for "r2".', { minLength: 1 }),
    path_prefix: str('A folder inside the bucket to keep the repository in (e.g. team/agent-1).'),
    interval_minutes: num('Minutes between scheduled syncs (at most 1440, one day).', { exclusiveMinimum: 0, maximum: 1440, default: CONFIG_DEFAULTS.interval_minutes }),
    retention_days: num('Days snapshots are kept before they are forgotten.', { minimum: 1, default: CONFIG_DEFAULTS.retention_days }),
    include: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Globs relative to the workspace to back up in addition to the default memory files (e.g. notes/**).' },
    exclude: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Gitignore-style patterns of workspace files to leave out (e.g. *.tmp).' },
    enabled: { type: 'boolean', default: CONFIG_DEFAULTS.enabled, description: 'false stops the scheduled and triggered syncs.' },
    device: str('The name this device records in its snapshots: 1-64 characters of A-Z, a-z, 0-9, ".", "_", "-".', { pattern: DEVICE_PATTERN }),
    key_id: str("Secret: the S3 access key id (better: AWS_ACCESS_KEY_ID or the plugin's secret config).", { minLength: 1 }),
    secret_key: str("Secret: the S3 secret access key (better: AWS_SECRET_ACCESS_KEY or the plugin's secret config).", { minLength: 1 }),
    encryption_key: str("Secret: the repository key, base64 of 32 bytes (openssl rand -base64 32; better: SESSION_SYNC_KEY or the plugin's secret config).", { pattern: KEY_PATTERN }),
    passphrase: str("Secret: the repository password (better: SESSION_SYNC_PASSWORD or the plugin's secret config).", { minLength: 1 }),
    debounce_seconds: num('Seconds to wait after a change before syncing, so a burst of writes makes one snapshot.', { minimum: 0, default: CONFIG_DEFAULTS.debounce_seconds }),
    protect: {
      type: 'boolean',
      default: false,
      description:
        "Protected history: the repository lives in a versioned (ideally Object Lock) bucket and the agent's credential may upload and read but not delete. No automatic prune on the agent (run it from a trusted device); a change that weakens protection takes effect only once the owner confirms it (session-sync sync confirm).",
    },
    shrink_alarm_percent: num('Warn when one sync leaves a memory file with this percentage of its lines fewer (100 turns the alarm off).', { exclusiveMinimum: 0, maximum: 100, default: CONFIG_DEFAULTS.shrink_alarm_percent }),
    transcripts: { type: 'boolean', default: CONFIG_DEFAULTS.transcripts, description: "true also backs up the agent's conversation transcripts (read from OpenClaw's agent database, never copied whole; in the gateway, on Node 24)." },
  } satisfies Record<string, PropertySchema>,
} as const

/** A validated config as written: every key optional, snake_case. */
export interface SyncConfigInput {
  provider?: SyncProvider
  path?: string
  endpoint?: string
  bucket?: string
  region?: string
  account_id?: string
  path_prefix?: string
  interval_minutes?: number
  retention_days?: number
  include?: string[]
  exclude?: string[]
  enabled?: boolean
  protect?: boolean
  device?: string
  key_id?: string
  secret_key?: string
  encryption_key?: string
  passphrase?: string
  debounce_seconds?: number
  shrink_alarm_percent?: number
  transcripts?: boolean
}

type ConfigKey = keyof SyncConfigInput

const KEYS = Object.keys(SyncConfigSchema.properties) as ConfigKey[]
const PROPERTIES: Record<string, PropertySchema> = SyncConfigSchema.properties

/** The environment variable to keep each secret in instead. */
const SECRET_ENV: Record<SecretKey, string> = {
  key_id: 'AWS_ACCESS_KEY_ID',
  secret_key: 'AWS_SECRET_ACCESS_KEY',
  encryption_key: 'SESSION_SYNC_KEY',
  passphrase: 'SESSION_SYNC_PASSWORD',
}

/** What each key must be, and how to put it right, for the error messages. */
const EXPECTED: Record<ConfigKey, { must: string; fix: string; item?: string }> = {
  provider: { must: `one of ${SYNC_PROVIDERS.join(', ')}`, fix: 'e.g. "provider": "s3"' },
  path: { must: 'a folder path (a non-empty string)', fix: 'e.g. "path": "../agent-backup"' },
  endpoint: { must: 'an http:// or https:// URL', fix: 'e.g. "endpoint": "http://127.0.0.1:9000"' },
  bucket: { must: 'a bucket name without slashes or spaces (folders go in "path_prefix")', fix: 'e.g. "bucket": "agent-backup"' },
  region: { must: 'a region name (a non-empty string)', fix: 'e.g. "region": "us-west-004"' },
  account_id: { must: 'the Cloudflare account id (a non-empty string)', fix: 'copy it from the R2 overview page' },
  path_prefix: { must: 'a folder inside the bucket (a string)', fix: 'e.g. "path_prefix": "team/agent-1"' },
  interval_minutes: { must: 'a number greater than 0 and at most 1440 (minutes)', fix: 'e.g. "interval_minutes": 15' },
  retention_days: { must: 'a number of at least 1 (days)', fix: 'e.g. "retention_days": 30' },
  include: { must: 'a list of globs', item: 'a glob relative to the workspace (a non-empty string)', fix: 'e.g. "include": ["notes/**"]' },
  exclude: { must: 'a list of patterns', item: 'a gitignore-style pattern (a non-empty string)', fix: 'e.g. "exclude": ["*.tmp"]' },
  enabled: { must: 'true or false', fix: 'e.g. "enabled": true' },
  protect: { must: 'true or false', fix: 'e.g. "protect": true' },
  device: { must: '1 to 64 characters of A-Z, a-z, 0-9, ".", "_" and "-"', fix: 'e.g. "device": "laptop-1"' },
  key_id: { must: 'the S3 access key id (a non-empty string)', fix: `or leave it out and set ${SECRET_ENV.key_id}` },
  secret_key: { must: 'the S3 secret access key (a non-empty string)', fix: `or leave it out and set ${SECRET_ENV.secret_key}` },
  encryption_key: { must: 'the base64 of exactly 32 bytes (44 characters ending in "=")', fix: 'make one with `openssl rand -base64 32`' },
  passphrase: { must: 'a non-empty string', fix: `or leave it out and set ${SECRET_ENV.passphrase}` },
  debounce_seconds: { must: 'a number of at least 0 (seconds)', fix: 'e.g. "debounce_seconds": 5' },
  shrink_alarm_percent: { must: 'a number greater than 0 and at most 100 (percent)', fix: 'e.g. "shrink_alarm_percent": 30' },
  transcripts: { must: 'true or false', fix: 'e.g. "transcripts": true' },
}

const isSecret = (key: string): key is SecretKey => (SECRET_KEYS as readonly string[]).includes(key)

/**
 * Parses the text of a config file (JSON with comments and trailing commas) and validates it.
 * `source` names the file in messages. Throws `ConfigError` for a syntax error (with its line and
 * column), a value that is not an object, or a key with a wrong value; unknown keys are warnings.
 */
export function parseConfigText(text: string, source: string): { value: SyncConfigInput; warnings: string[] } {
  const body = text.replace(/^\uFEFF/, '')
  if (body.trim() === '') throw new ConfigError(source, '', 'is empty', 'write a JSON object, e.g. { "provider": "local", "path": "../agent-backup" }')
  // Loaded here, not with the module: most runs of the CLI read no config.
  const { parse: parseJsonc, printParseErrorCode } = require('jsonc-parser') as typeof import('jsonc-parser')
  const errors: ParseError[] = []
  const value: unknown = parseJsonc(body, errors, { allowTrailingComma: true })
  if (errors.length > 0) {
    const { error, offset } = errors[0]
    const { line, column } = lineAndColumn(body, offset)
    const what = printParseErrorCode(error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()
    throw new ConfigError(source, '', `has a syntax error at line ${line}, column ${column}: ${what}`, 'correct it there (comments with // or /* */ and trailing commas are allowed)')
  }
  return validateConfigValue(value, source)
}

/**
 * Validates an already-parsed config (the plugin's config object) against the schema. Returns the
 * known keys and warnings for unknown ones; throws `ConfigError` for the first key with a wrong value.
 */
export function validateConfigValue(value: unknown, source: string): { value: SyncConfigInput; warnings: string[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(source, '', `must be a JSON object of settings, got ${kindOf(value)}`, 'e.g. { "provider": "local", "path": "../agent-backup" }')
  }
  const known: Record<string, unknown> = {}
  const warnings: string[] = []
  for (const [key, v] of Object.entries(value)) {
    if ((KEYS as string[]).includes(key)) {
      if (v !== undefined) known[key] = v
      continue
    }
    const near = closestKey(key)
    warnings.push(`${source}: unknown key "${key}" is ignored${near ? `; did you mean "${near}"?` : ''}`)
  }
  for (const key of KEYS) {
    if (!(key in known)) continue
    if (isSecret(key)) {
      const ref = secretRefLabel(known[key])
      if (ref) throw new UnresolvedSecretError(source, key, ref)
    }
    const wrong = firstProblem(PROPERTIES[key], known[key])
    if (!wrong) continue
    const expected = EXPECTED[key]
    const item = wrong.index !== undefined && expected.item
    const shown = isSecret(key) ? kindOf(wrong.value) : JSON.stringify(wrong.value)
    throw new ConfigError(source, wrong.index !== undefined ? `${key}.${wrong.index}` : key, `must be ${item || expected.must}, got ${shown}`, expected.fix)
  }
  return { value: known, warnings }
}

/**
 * `source:provider:id` when the value is a secret reference as OpenClaw writes one
 * (`{ source: "env" | "file" | "exec" | "store", provider, id }`, provider optional in older
 * configs): the config as written, before the gateway resolved it. Undefined for anything else.
 */
export function secretRefLabel(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
  const { source, provider, id } = v as Record<string, unknown>
  if (!['env', 'file', 'exec', 'store'].includes(source as string) || typeof id !== 'string') return undefined
  return `${String(source)}:${typeof provider === 'string' ? provider : 'default'}:${id}`
}

/** The first way a value breaks its property's schema: the value (or the list item) at fault. */
function firstProblem(p: PropertySchema, v: unknown): { value: unknown; index?: number } | undefined {
  if (p.type === 'array') {
    if (!Array.isArray(v)) return { value: v }
    const bad = v.findIndex((item) => firstProblem(p.items!, item) !== undefined)
    return bad < 0 ? undefined : { value: v[bad], index: bad }
  }
  if (p.type === 'boolean') return typeof v === 'boolean' ? undefined : { value: v }
  if (p.type === 'number') {
    const ok = typeof v === 'number' && Number.isFinite(v) && (p.minimum === undefined || v >= p.minimum) && (p.exclusiveMinimum === undefined || v > p.exclusiveMinimum) && (p.maximum === undefined || v <= p.maximum)
    return ok ? undefined : { value: v }
  }
  const ok =
    typeof v === 'string' &&
    (p.enum === undefined || p.enum.includes(v)) &&
    (p.minLength === undefined || [...v].length >= p.minLength) &&
    (p.pattern === undefined || new RegExp(p.pattern, 'u').test(v)) &&
    (p.format !== 'uri' || URL.canParse(v))
  return ok ? undefined : { value: v }
}

/**
 * Reads `<workspace>/session-sync-config.json`: undefined when there is none; throws `ConfigError`
 * when it cannot be read or is not a valid config.
 */
export function loadWorkspaceConfig(workspace: string): { value: SyncConfigInput; warnings: string[]; path: string } | undefined {
  const path = join(workspace, CONFIG_FILE_NAME)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'EISDIR') throw new ConfigError(path, '', 'is a folder, not a file', 'remove it or make it a JSON file')
    throw new ConfigError(path, '', `cannot be read (${(e as Error).message})`, 'check that this user may read it')
  }
  return { ...parseConfigText(text, path), path }
}

/** The secrets of a resolved config. */
export interface SyncSecrets {
  keyId?: string
  secretKey?: string
  encryptionKey?: Uint8Array
  passphrase?: string
}

/** Where a secret was found. */
export type SecretSource = 'plugin' | 'workspace'

/**
 * The non-secret settings of a resolved config, with defaults applied. Serialisable, so the sync
 * layer can keep the previous one in its state file and compare with `weakenings`.
 */
export interface ConfigFingerprint {
  /** Undefined: the sync is not configured yet. */
  provider?: SyncProvider
  /** Absolute path of the local repository. */
  path?: string
  endpoint?: string
  bucket?: string
  region?: string
  accountId?: string
  /** Without leading or trailing slashes; undefined for the bucket's root. */
  pathPrefix?: string
  intervalMinutes: number
  retentionDays: number
  /** Globs added to the sync's default allowlist. */
  include: string[]
  exclude: string[]
  enabled: boolean
  /** Protected history (see the `protect` key); false when absent. */
  protect?: boolean
  device?: string
  debounceSeconds: number
}

/** The plugin's config and the workspace file merged and checked. */
export interface ResolvedSyncConfig extends ConfigFingerprint {
  /** A memory file that loses more than this percentage of its lines in one sync raises an alarm. */
  shrinkAlarmPercent: number
  /** Also back up the agent's transcripts (where the caller gives their database). */
  transcripts: boolean
  secrets: SyncSecrets
  secretSources: { [K in keyof SyncSecrets]?: SecretSource }
  /** Things the owner should know (secrets in the workspace); never holds a secret's value. */
  warnings: string[]
}

const PLUGIN_SOURCE = 'plugin config'

/** The field of `SyncSecrets` each secret key fills. */
const SECRET_FIELD = { key_id: 'keyId', secret_key: 'secretKey', encryption_key: 'encryptionKey', passphrase: 'passphrase' } as const satisfies Record<SecretKey, keyof SyncSecrets>

/** What each provider needs besides itself (the rules of `providerOptions`). */
const REQUIRED: Record<SyncProvider, ConfigKey[]> = {
  local: ['path'],
  s3: ['bucket'],
  backblaze: ['region', 'bucket'],
  r2: ['account_id', 'bucket'],
  wasabi: ['bucket'],
  minio: ['endpoint', 'bucket'],
  custom: ['endpoint', 'bucket'],
}

/**
 * Merges the plugin's config and the workspace file's (the plugin wins where both set a key),
 * applies the defaults, resolves `path` against the workspace folder, and checks that the
 * provider has what it needs (throws `ConfigError` naming the missing key). Secrets found in the
 * workspace file work but add a warning.
 */
export function resolveConfig(opts: { plugin?: SyncConfigInput; workspace?: SyncConfigInput; workspaceDir: string }): ResolvedSyncConfig {
  const plugin = opts.plugin ?? {}
  const workspace = opts.workspace ?? {}
  const workspaceDir = resolve(opts.workspaceDir)
  const workspaceSource = join(workspaceDir, CONFIG_FILE_NAME)
  const sourceOf = (key: ConfigKey) => (plugin[key] !== undefined ? PLUGIN_SOURCE : workspaceSource)
  const c = { ...workspace, ...definedOnly(plugin) }

  if (c.provider !== undefined) {
    for (const key of REQUIRED[c.provider]) {
      if (c[key] === undefined) {
        throw new ConfigError(sourceOf('provider'), key, `is required with "provider": "${c.provider}"`, `add it: ${EXPECTED[key].fix}`)
      }
    }
  }
  if ((c.key_id === undefined) !== (c.secret_key === undefined)) {
    const [given, missing] = c.key_id === undefined ? (['secret_key', 'key_id'] as const) : (['key_id', 'secret_key'] as const)
    throw new ConfigError(sourceOf(given), missing, `is required when "${given}" is set`, `set both, or neither and use ${SECRET_ENV.key_id} and ${SECRET_ENV.secret_key}`)
  }

  const warnings: string[] = []
  const secretSources: ResolvedSyncConfig['secretSources'] = {}
  for (const key of SECRET_KEYS) {
    if (workspace[key] !== undefined) {
      warnings.push(`${key} is in ${CONFIG_FILE_NAME}, which the agent can read: move it to the environment (${SECRET_ENV[key]}) or the plugin's secret config`)
    }
    if (c[key] !== undefined) secretSources[SECRET_FIELD[key]] = plugin[key] !== undefined ? 'plugin' : 'workspace'
  }

  const prefix = c.path_prefix?.split('/').filter(Boolean).join('/')
  return {
    provider: c.provider,
    path: c.path === undefined ? undefined : resolve(workspaceDir, c.path.replace(/^~(?=$|\/)/, homedir())),
    endpoint: c.endpoint,
    bucket: c.bucket,
    region: c.region,
    accountId: c.account_id,
    pathPrefix: prefix || undefined,
    intervalMinutes: c.interval_minutes ?? CONFIG_DEFAULTS.interval_minutes,
    retentionDays: c.retention_days ?? CONFIG_DEFAULTS.retention_days,
    include: [...(c.include ?? [])],
    exclude: [...(c.exclude ?? [])],
    enabled: c.enabled ?? CONFIG_DEFAULTS.enabled,
    ...(c.protect ? { protect: true } : {}),
    device: c.device,
    debounceSeconds: c.debounce_seconds ?? CONFIG_DEFAULTS.debounce_seconds,
    shrinkAlarmPercent: c.shrink_alarm_percent ?? CONFIG_DEFAULTS.shrink_alarm_percent,
    transcripts: c.transcripts ?? CONFIG_DEFAULTS.transcripts,
    secrets: {
      keyId: c.key_id,
      secretKey: c.secret_key,
      encryptionKey: c.encryption_key === undefined ? undefined : new Uint8Array(Buffer.from(c.encryption_key, 'base64')),
      passphrase: c.passphrase,
    },
    secretSources,
    warnings,
  }
}

const PROVIDER_NAMES: Record<S3Provider, string> = {
  s3: 'S3',
  backblaze: 'Backblaze B2',
  r2: 'Cloudflare R2',
  wasabi: 'Wasabi',
  minio: 'MinIO',
  custom: 'S3-compatible',
}

/**
 * The repository location and S3 settings for `openBackend(location, { s3 })`: an absolute folder
 * for "local"; `s3:BUCKET[/PREFIX]` with the provider's endpoint, region and path style (and the
 * credentials, when the config has both key_id and secret_key) otherwise. `describe` says where,
 * without secrets. Throws `NotConfiguredError` when there is no provider.
 */
export function repositoryLocation(c: ResolvedSyncConfig): { location: string; s3?: Partial<S3Options>; describe: string } {
  if (c.provider === undefined) throw new NotConfiguredError(`no "provider" in the plugin config or ${CONFIG_FILE_NAME}`)
  if (c.provider === 'local') {
    if (c.path === undefined) throw new NotConfiguredError('provider "local" has no "path"')
    return { location: c.path, describe: `local folder ${c.path}` }
  }
  if (c.bucket === undefined) throw new NotConfiguredError(`provider "${c.provider}" has no "bucket"`)
  const s3: Partial<S3Options> = providerOptions(c.provider, { region: c.region, accountId: c.accountId, endpoint: c.endpoint })
  if (c.secrets.keyId !== undefined && c.secrets.secretKey !== undefined) {
    s3.credentials = { accessKeyId: c.secrets.keyId, secretAccessKey: c.secrets.secretKey }
  }
  const where = s3.endpoint ? `at ${s3.endpoint}` : `in AWS region ${s3.region}`
  return {
    location: `s3:${c.bucket}${c.pathPrefix ? `/${c.pathPrefix}` : ''}`,
    s3,
    describe: `${PROVIDER_NAMES[c.provider]} bucket ${c.bucket}${c.pathPrefix ? ` (prefix ${c.pathPrefix}/)` : ''} ${where}`,
  }
}

/** The non-secret settings of a resolved config, to store and later compare with `weakenings`. */
export function fingerprintOf(c: ConfigFingerprint): ConfigFingerprint {
  return definedOnly({
    provider: c.provider,
    path: c.path,
    endpoint: c.endpoint,
    bucket: c.bucket,
    region: c.region,
    accountId: c.accountId,
    pathPrefix: c.pathPrefix,
    intervalMinutes: c.intervalMinutes,
    retentionDays: c.retentionDays,
    include: [...c.include],
    exclude: [...c.exclude],
    enabled: c.enabled,
    protect: c.protect || undefined,
    device: c.device,
    debounceSeconds: c.debounceSeconds,
  })
}

/** Settings that together say where the backups go, with the names the config uses. */
const DESTINATION: Array<[keyof ConfigFingerprint, ConfigKey]> = [
  ['provider', 'provider'],
  ['path', 'path'],
  ['endpoint', 'endpoint'],
  ['bucket', 'bucket'],
  ['region', 'region'],
  ['accountId', 'account_id'],
  ['pathPrefix', 'path_prefix'],
]

/** Probes for the memory the sync protects by default: the file, and a daily note in the folder. */
const MEMORY_PROBES: Array<[probe: string, shown: string]> = [
  ['MEMORY.md', 'MEMORY.md'],
  ['memory/2026-01-01.md', 'memory/'],
]

/**
 * The changes from `previous` to `current` that protect the workspace less, as sentences for the
 * owner: the sync turned off, the memory files newly excluded, a shorter retention, or another
 * destination (whose history starts empty). Empty when nothing weakened.
 */
export function weakenings(previous: ConfigFingerprint, current: ConfigFingerprint): string[] {
  const out: string[] = []
  if (previous.protect && !current.protect) out.push('protected history was turned off ("protect": false): the sync would prune with a credential that may delete')
  if (previous.enabled && !current.enabled) out.push('the sync was turned off ("enabled": false): changes are no longer backed up')
  const hidden = newlyExcluded(previous.exclude, current.exclude)
  if (hidden.length > 0) out.push(`"exclude" now leaves out ${hidden.join(' and ')} (backed up before)`)
  if (current.retentionDays < previous.retentionDays) {
    out.push(`snapshots are now kept ${current.retentionDays} days instead of ${previous.retentionDays}: older ones will be forgotten`)
  }
  if (previous.provider !== undefined && current.provider === undefined) {
    out.push('no "provider" is configured any more: changes are no longer backed up')
  } else if (previous.provider !== undefined) {
    const moved = DESTINATION.filter(([k]) => previous[k] !== current[k]).map(([k, name]) => `${name} ${show(previous[k])} → ${show(current[k])}`)
    if (moved.length > 0) out.push(`the backups now go elsewhere (${moved.join(', ')}): the earlier snapshots stay in the old place`)
  }
  return out
}

function newlyExcluded(before: string[], after: string[]): string[] {
  if (after.length === 0) return []
  const ignore = require('ignore') as typeof import('ignore')
  const matcher = (patterns: string[]): Ignore | undefined => {
    try {
      return ignore().add(patterns)
    } catch {
      return undefined // an invalid pattern: the archiver reports it when it runs
    }
  }
  const was = before.length > 0 ? matcher(before) : undefined
  const now = matcher(after)
  if (!now) return []
  return MEMORY_PROBES.filter(([probe]) => now.ignores(probe) && !was?.ignores(probe)).map(([, shown]) => shown)
}

const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v))

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

/** What a value is, for messages that must not show it. */
function kindOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'string') return v === '' ? 'an empty string' : `a string of ${v.length} characters`
  return `${typeof v === 'object' ? 'an' : 'a'} ${typeof v}`
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split(/\r\n|\r|\n/)
  return { line: before.length, column: before[before.length - 1].length + 1 }
}

/** The known key within edit distance 2 of an unknown one, ignoring case. */
function closestKey(key: string): string | undefined {
  let best: { key: string; d: number } | undefined
  for (const k of KEYS) {
    const d = editDistance(key.toLowerCase(), k)
    if (d <= 2 && (!best || d < best.d)) best = { key: k, d }
  }
  return best?.key
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    row = next
  }
  return row[b.length]
}
