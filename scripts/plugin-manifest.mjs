// Writes openclaw.plugin.json, the OpenClaw plugin manifest, from the sync's config schema
// (SyncConfigSchema in src/sync/config.ts) and the plugin's tool list (src/openclaw/tools.ts), so the
// manifest never disagrees with the code. test/openclaw/manifest.test.ts checks that the committed
// file equals what this generates.
//
//   node --import tsx scripts/plugin-manifest.mjs          writes openclaw.plugin.json
//   node --import tsx scripts/plugin-manifest.mjs --check  exits 1 when it is stale
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SECRET_KEYS, SyncConfigSchema } from '../src/sync/config.ts'
import { OPTIONAL_TOOLS, READ_ONLY_TOOLS, TOOL_NAMES } from '../src/openclaw/tools.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const MANIFEST_PATH = join(root, 'openclaw.plugin.json')

/** Labels for the settings UI; help texts are the schema's descriptions. */
const LABELS = {
  provider: 'Storage provider',
  path: 'Local repository folder',
  endpoint: 'S3 endpoint URL',
  bucket: 'Bucket',
  region: 'Region',
  account_id: 'Cloudflare account id',
  path_prefix: 'Folder in the bucket',
  interval_minutes: 'Sync interval (minutes)',
  retention_days: 'Keep snapshots (days)',
  include: 'Also back up (globs)',
  exclude: 'Leave out (patterns)',
  enabled: 'Scheduled syncs enabled',
  device: 'Device name',
  key_id: 'Access key id',
  secret_key: 'Secret access key',
  encryption_key: 'Encryption key (base64, 32 bytes)',
  passphrase: 'Repository passphrase',
  debounce_seconds: 'Debounce (seconds)',
  shrink_alarm_percent: 'Shrink alarm (percent)',
  transcripts: 'Back up transcripts',
}
const ADVANCED = new Set(['path_prefix', 'device', 'debounce_seconds', 'include', 'exclude', 'account_id', 'endpoint'])
/** Tool profiles that show the required tools by default (the optional ones need tools.allow). */
const PROFILES = ['coding', 'messaging', 'full']

/**
 * OpenClaw's SecretRef, as its SecretRef contract (docs/gateway/secrets/secretref-contract.md) and
 * its bundled plugins' manifests spell it: exactly these three keys; `provider` an alias of the
 * source's providers ("default" for the built-in env and store readers).
 */
export const SECRET_REF_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    source: { type: 'string', enum: ['env', 'file', 'exec', 'store'] },
    provider: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,63}$' },
    id: { type: 'string', minLength: 1 },
  },
  required: ['source', 'provider', 'id'],
}

/**
 * The sync's config schema with every secret key widened to "the secret itself, or a SecretRef":
 * the host validates the config as written (references unresolved) and resolves the references
 * (configContracts.secretInputs) before the gateway hands the config to the plugin.
 */
export function pluginConfigSchema() {
  const schema = JSON.parse(JSON.stringify(SyncConfigSchema))
  for (const key of SECRET_KEYS) {
    const { description, ...literal } = schema.properties[key]
    schema.properties[key] = { description, anyOf: [literal, { $ref: '#/$defs/secretRef' }] }
  }
  schema.$defs = { secretRef: SECRET_REF_SCHEMA }
  return schema
}

export function buildManifest() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const uiHints = {}
  for (const [key, prop] of Object.entries(SyncConfigSchema.properties)) {
    uiHints[key] = { label: LABELS[key] ?? key, help: prop.description }
    if (ADVANCED.has(key)) uiHints[key].advanced = true
    if (SECRET_KEYS.includes(key)) uiHints[key].sensitive = true
  }
  const toolMetadata = {}
  for (const name of TOOL_NAMES) {
    const optional = OPTIONAL_TOOLS.includes(name)
    const readOnly = READ_ONLY_TOOLS.includes(name)
    toolMetadata[name] = optional ? { optional: true, sideEffecting: true } : { profiles: PROFILES, ...(readOnly ? { replaySafe: true } : { sideEffecting: true }) }
  }
  return {
    id: 'session-sync-cloud',
    name: 'Session Sync Cloud',
    description: "Encrypted, deduplicated backups of the agent's memory files to S3-compatible storage or a folder, with staged restores and undo.",
    version: pkg.version,
    categories: ['memory'],
    activation: { onStartup: true },
    skills: ['./skills'],
    contracts: { tools: [...TOOL_NAMES] },
    toolMetadata,
    configContracts: { secretInputs: { paths: SECRET_KEYS.map((path) => ({ path, expected: 'string' })) } },
    // The state folder (restore records, sync state, the device name) is durable. The generated
    // repository keys must never land in the host's own unencrypted archives beside the storage
    // credentials: "regenerable" is the manifest's one way to leave a path out. On a new device the
    // key comes back from the copy the owner keeps off the machine (sync init asks for it). The
    // repositories' local caches are copies of what the storage holds: regenerable too.
    backupResources: [
      { disposition: 'include', scope: 'state', relativePath: 'session-sync-cloud/workspaces' },
      { disposition: 'include', scope: 'state', relativePath: 'session-sync-cloud/device' },
      { disposition: 'regenerable', scope: 'state', relativePath: 'session-sync-cloud/keys' },
      { disposition: 'regenerable', scope: 'state', relativePath: 'session-sync-cloud/cache' },
    ],
    uiHints,
    configSchema: pluginConfigSchema(),
  }
}

export const manifestText = () => `${JSON.stringify(buildManifest(), null, 2)}\n`

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = manifestText()
  if (process.argv.includes('--check')) {
    let current = ''
    try {
      current = readFileSync(MANIFEST_PATH, 'utf8')
    } catch {
      // missing
    }
    if (current !== text) {
      console.error('openclaw.plugin.json is stale: run node --import tsx scripts/plugin-manifest.mjs')
      process.exit(1)
    }
  } else {
    writeFileSync(MANIFEST_PATH, text)
    console.log(`wrote ${MANIFEST_PATH}`)
  }
}
