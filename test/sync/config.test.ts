import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseLocation } from '../../src/backend/location.js'
import { SessionSyncError } from '../../src/errors/index.js'
import {
  CONFIG_FILE_NAME,
  fingerprintOf,
  loadWorkspaceConfig,
  parseConfigText,
  repositoryLocation,
  resolveConfig,
  SECRET_KEYS,
  SyncConfigSchema,
  validateConfigValue,
  weakenings,
  type ConfigFingerprint,
  type SyncConfigInput,
} from '../../src/sync/config.js'

const dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'ssc-config-'))
  dirs.push(d)
  return d
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A valid key: the base64 of 32 bytes, as `openssl rand -base64 32` prints it. */
const KEY = Buffer.alloc(32, 7).toString('base64')

/** Asserts `f` throws an INVALID_CONFIG error for `field` whose message contains every one of `parts`. */
function configError(f: () => unknown, field: string, ...parts: string[]): SessionSyncError {
  let caught: unknown
  assert.throws(f, (e: unknown) => {
    caught = e
    return true
  })
  assert.ok(caught instanceof SessionSyncError, String(caught))
  assert.equal(caught.code, 'INVALID_CONFIG', caught.message)
  assert.equal(caught.data.field, field, caught.message)
  for (const p of parts) assert.ok(caught.message.includes(p), `${JSON.stringify(caught.message)} should contain ${JSON.stringify(p)}`)
  return caught
}

describe('the schema', () => {
  test('serialises to a plain JSON Schema: every key optional, described, with the defaults', () => {
    const json = JSON.parse(JSON.stringify(SyncConfigSchema))
    assert.equal(json.type, 'object')
    assert.equal(json.required, undefined)
    assert.notEqual(json.additionalProperties, false)
    assert.deepEqual(Object.keys(json.properties).sort(), [
      'account_id', 'bucket', 'debounce_seconds', 'device', 'enabled', 'encryption_key', 'endpoint', 'exclude', 'include',
      'interval_minutes', 'key_id', 'passphrase', 'path', 'path_prefix', 'protect', 'provider', 'region', 'retention_days', 'secret_key', 'shrink_alarm_percent', 'transcripts',
    ])
    for (const [key, prop] of Object.entries<{ description?: string }>(json.properties)) assert.ok(prop.description, `${key} has a description`)
    assert.deepEqual(json.properties.provider.enum, ['local', 's3', 'backblaze', 'r2', 'wasabi', 'minio', 'custom'])
    assert.equal(json.properties.interval_minutes.default, 15)
    assert.equal(json.properties.retention_days.default, 30)
    assert.deepEqual(SECRET_KEYS, ['key_id', 'secret_key', 'encryption_key', 'passphrase'])
  })
})

describe('parseConfigText', () => {
  test('reads JSON with // and /* */ comments, trailing commas and a byte-order mark', () => {
    const text = `\uFEFF{
      // where the backups go
      "provider": "local", /* a folder */
      "path": "../backup",
      "interval_minutes": 0.05, // fractional minutes are fine
      "include": ["notes/**",],
    }`
    const { value, warnings } = parseConfigText(text, 'ws.json')
    assert.deepEqual(value, { provider: 'local', path: '../backup', interval_minutes: 0.05, include: ['notes/**'] })
    assert.deepEqual(warnings, [])
  })

  test('a syntax error names its line and column', () => {
    const e = configError(() => parseConfigText('{\n  "provider": "local"\n  "path": "x"\n}', 'ws.json'), '', 'ws.json: ', 'line 3, column 3', 'comma expected')
    assert.match(e.message, /comments with \/\/ or \/\* \*\/ and trailing commas are allowed/)
    configError(() => parseConfigText('{ "provider": "local" } trailing', 'ws.json'), '', 'line 1, column 25')
  })

  test('an empty file and a value that is not an object are errors of the whole document', () => {
    configError(() => parseConfigText('  \n', 'ws.json'), '', 'is empty', '"provider": "local"')
    configError(() => parseConfigText('// only a comment\n', 'ws.json'), '', 'syntax error at line 2, column 1')
    configError(() => parseConfigText('[1, 2]', 'ws.json'), '', 'must be a JSON object', 'got a list')
    configError(() => parseConfigText('"s3"', 'ws.json'), '', 'must be a JSON object', 'got a string')
    configError(() => parseConfigText('null', 'ws.json'), '', 'got null')
  })

  test('a wrong value names the field, what it must be, what it got, and an example', () => {
    const parse = (o: object) => () => parseConfigText(JSON.stringify(o), 'ws.json')
    configError(parse({ interval_minutes: 'fifteen' }), 'interval_minutes', 'must be a number greater than 0', 'got "fifteen"', 'e.g. "interval_minutes": 15')
    configError(parse({ interval_minutes: 0 }), 'interval_minutes', 'greater than 0', 'got 0')
    configError(parse({ interval_minutes: 1441 }), 'interval_minutes', 'at most 1440', 'got 1441')
    configError(parse({ retention_days: 0.5 }), 'retention_days', 'at least 1', 'e.g. "retention_days": 30')
    configError(parse({ debounce_seconds: -1 }), 'debounce_seconds', 'at least 0', 'e.g. "debounce_seconds": 5')
    configError(parse({ enabled: 'yes' }), 'enabled', 'must be true or false', 'got "yes"')
    configError(parse({ include: ['notes/**', 3] }), 'include.1', 'must be a glob', 'got 3', '"include": ["notes/**"]')
    configError(parse({ exclude: '*.tmp' }), 'exclude', 'must be a list of patterns', '"exclude": ["*.tmp"]')
    configError(parse({ path: '' }), 'path', 'must be a folder path')
    configError(parse({ endpoint: 'ftp://host' }), 'endpoint', 'http:// or https:// URL', '"endpoint": "http://127.0.0.1:9000"')
    configError(parse({ endpoint: 'not a url' }), 'endpoint', 'http:// or https:// URL')
    configError(parse({ bucket: 'agent/backup' }), 'bucket', 'folders go in "path_prefix"')
    configError(parse({ region: 7 }), 'region', 'must be a region name', 'got 7')
  })

  test('an unknown provider lists the valid ones', () => {
    configError(() => parseConfigText('{ "provider": "azure" }', 'ws.json'), 'provider', 'got "azure"', 'one of local, s3, backblaze, r2, wasabi, minio, custom')
  })

  test('device: 1-64 characters of letters, digits, ".", "_" and "-"', () => {
    assert.equal(parseConfigText('{ "device": "laptop_1.home-2" }', 'ws.json').value.device, 'laptop_1.home-2')
    configError(() => parseConfigText('{ "device": "my laptop" }', 'ws.json'), 'device', '1 to 64 characters', 'got "my laptop"', '"device": "laptop-1"')
    configError(() => parseConfigText(JSON.stringify({ device: 'x'.repeat(65) }), 'ws.json'), 'device', '1 to 64 characters')
    configError(() => parseConfigText('{ "device": "" }', 'ws.json'), 'device')
  })

  test('a bad encryption key says how to make one, and no secret value appears in an error', () => {
    const wrong = 'c2VjcmV0LWJ1dC1ub3QtMzItYnl0ZXM='
    const e = configError(() => parseConfigText(JSON.stringify({ encryption_key: wrong }), 'ws.json'), 'encryption_key', 'base64 of exactly 32 bytes', 'openssl rand -base64 32')
    assert.ok(!JSON.stringify({ message: e.message, data: e.data }).includes(wrong))
    for (const size of [31, 33, 64]) {
      configError(() => parseConfigText(JSON.stringify({ encryption_key: Buffer.alloc(size, 1).toString('base64') }), 'ws.json'), 'encryption_key', `got a string of`)
    }
    for (const [key, value] of [['key_id', 12345678], ['secret_key', ['hunter2-secret']], ['passphrase', '']] as const) {
      const err = configError(() => parseConfigText(JSON.stringify({ [key]: value }), 'ws.json'), key)
      assert.ok(!err.message.includes(JSON.stringify(value)) && !err.message.includes('hunter2'), err.message)
    }
    assert.deepEqual(parseConfigText(JSON.stringify({ encryption_key: KEY }), 'ws.json').value, { encryption_key: KEY })
  })

  test('the plugin config as resolved in the gateway (strings) is accepted; an unresolved SecretRef at a secret key is UNRESOLVED_SECRET naming the reference', () => {
    const resolved = { provider: 'minio', endpoint: 'http://127.0.0.1:9000', bucket: 'b', key_id: 'AKIA-1', secret_key: 'SK-2', encryption_key: KEY, passphrase: 'p' }
    assert.deepEqual(validateConfigValue(resolved, 'plugin config').value, resolved)
    const refs: Array<[string, Record<string, string>, string]> = [
      ['key_id', { source: 'store', provider: 'default', id: 'SYNC_KEY_ID' }, 'store:default:SYNC_KEY_ID'],
      ['secret_key', { source: 'env', provider: 'default', id: 'AWS_SECRET_ACCESS_KEY' }, 'env:default:AWS_SECRET_ACCESS_KEY'],
      ['encryption_key', { source: 'file', provider: 'filemain', id: '/sync/key' }, 'file:filemain:/sync/key'],
      ['passphrase', { source: 'exec', id: 'vault/sync#pass' }, 'exec:default:vault/sync#pass'],
    ]
    for (const [key, ref, label] of refs) {
      assert.throws(
        () => validateConfigValue({ ...resolved, [key]: ref }, 'plugin config'),
        (e: unknown) => {
          assert.ok(e instanceof SessionSyncError)
          assert.equal(e.code, 'UNRESOLVED_SECRET')
          assert.deepEqual(e.data, { source: 'plugin config', field: key, ref: label })
          assert.ok(e.message.includes(`"${key}" is an unresolved secret reference (${label})`), e.message)
          assert.match(e.message, /only inside the running gateway/)
          return true
        },
      )
    }
    // An object that is no reference is just a wrong value.
    configError(() => validateConfigValue({ key_id: { source: 'vault', id: 'x' } }, 'plugin config'), 'key_id', 'got an object')
    // Outside the secret keys a reference is not resolved by the host either: a wrong value.
    configError(() => validateConfigValue({ bucket: { source: 'env', provider: 'default', id: 'B' } }, 'plugin config'), 'bucket')
  })

  test('unknown keys are dropped with a warning, suggesting a close known key', () => {
    const { value, warnings } = parseConfigText('{ "intervall_minutes": 5, "Provider": "s3", "retentionDays": 3, "colour": "blue", "bucket": "b" }', 'ws.json')
    assert.deepEqual(value, { bucket: 'b' })
    assert.deepEqual(warnings, [
      'ws.json: unknown key "intervall_minutes" is ignored; did you mean "interval_minutes"?',
      'ws.json: unknown key "Provider" is ignored; did you mean "provider"?',
      'ws.json: unknown key "retentionDays" is ignored; did you mean "retention_days"?',
      'ws.json: unknown key "colour" is ignored',
    ])
  })
})

describe('validateConfigValue', () => {
  test('validates the plugin config object the same way, naming its source', () => {
    assert.deepEqual(validateConfigValue({}, 'plugin config'), { value: {}, warnings: [] })
    assert.deepEqual(validateConfigValue({ provider: 's3', bucket: 'b', path: undefined }, 'plugin config').value, { provider: 's3', bucket: 'b' })
    const e = configError(() => validateConfigValue({ retention_days: '30' }, 'plugin config'), 'retention_days', 'plugin config: "retention_days" must be')
    assert.equal(e.data.source, 'plugin config')
    configError(() => validateConfigValue(undefined, 'plugin config'), '', 'must be a JSON object')
    assert.deepEqual(validateConfigValue({ bukket: 'b' }, 'plugin config').warnings, ['plugin config: unknown key "bukket" is ignored; did you mean "bucket"?'])
  })
})

describe('loadWorkspaceConfig', () => {
  test('undefined without a file; the file parsed with its path; errors name the file', () => {
    const ws = tempDir()
    assert.equal(loadWorkspaceConfig(ws), undefined)
    const file = join(ws, CONFIG_FILE_NAME)
    writeFileSync(file, '{ "provider": "local", "path": "backup", "unknwn": 1 }')
    const loaded = loadWorkspaceConfig(ws)
    assert.deepEqual(loaded?.value, { provider: 'local', path: 'backup' })
    assert.equal(loaded?.path, file)
    assert.deepEqual(loaded?.warnings, [`${file}: unknown key "unknwn" is ignored`])
    writeFileSync(file, '{ "interval_minutes": -1 }')
    const e = configError(() => loadWorkspaceConfig(ws), 'interval_minutes')
    assert.equal(e.data.source, file)
  })

  test('a folder in place of the file is a clear error', () => {
    const ws = tempDir()
    mkdirSync(join(ws, CONFIG_FILE_NAME))
    configError(() => loadWorkspaceConfig(ws), '', CONFIG_FILE_NAME, 'is a folder, not a file')
  })
})

describe('resolveConfig', () => {
  test('an unconfigured workspace resolves to the defaults, without a provider', () => {
    const c = resolveConfig({ workspaceDir: '/ws' })
    assert.equal(c.provider, undefined)
    assert.deepEqual(
      { i: c.intervalMinutes, r: c.retentionDays, e: c.enabled, d: c.debounceSeconds, inc: c.include, exc: c.exclude, w: c.warnings, s: c.secretSources },
      { i: 15, r: 30, e: true, d: 5, inc: [], exc: [], w: [], s: {} },
    )
    assert.throws(() => repositoryLocation(c), (e: SessionSyncError) => e.code === 'NOT_CONFIGURED')
  })

  test('the plugin wins over the workspace file key by key; lists are replaced, not merged', () => {
    const workspace: SyncConfigInput = { provider: 'local', path: 'ws-backup', interval_minutes: 60, retention_days: 7, include: ['a/**'], enabled: false, device: 'from-ws' }
    const plugin: SyncConfigInput = { interval_minutes: 5, include: ['b/**'], enabled: true }
    const c = resolveConfig({ plugin, workspace, workspaceDir: '/ws' })
    assert.equal(c.provider, 'local')
    assert.equal(c.path, '/ws/ws-backup')
    assert.equal(c.intervalMinutes, 5)
    assert.equal(c.retentionDays, 7)
    assert.deepEqual(c.include, ['b/**'])
    assert.equal(c.enabled, true)
    assert.equal(c.device, 'from-ws')
  })

  test('path: relative to the workspace, absolute as it is, ~ is the home folder', () => {
    const path = (p: string) => resolveConfig({ workspace: { provider: 'local', path: p }, workspaceDir: '/home/a/ws' }).path
    assert.equal(path('../backup'), '/home/a/backup')
    assert.equal(path('/srv/backup'), '/srv/backup')
    assert.equal(path('~/backup'), join(homedir(), 'backup'))
  })

  test('each provider requires what it needs, naming the missing key and where the provider was set', () => {
    const missing = (cfg: SyncConfigInput, field: string, ...parts: string[]) =>
      configError(() => resolveConfig({ workspace: cfg, workspaceDir: '/ws' }), field, `is required with "provider": "${cfg.provider}"`, ...parts)
    const e = missing({ provider: 'local' }, 'path', 'e.g. "path": "../agent-backup"')
    assert.equal(e.data.source, join('/ws', CONFIG_FILE_NAME))
    missing({ provider: 's3' }, 'bucket', 'e.g. "bucket": "agent-backup"')
    missing({ provider: 'backblaze', bucket: 'b' }, 'region', 'e.g. "region": "us-west-004"')
    missing({ provider: 'backblaze', region: 'us-west-004' }, 'bucket')
    missing({ provider: 'r2', bucket: 'b' }, 'account_id', 'R2 overview page')
    missing({ provider: 'wasabi' }, 'bucket')
    missing({ provider: 'minio', bucket: 'b' }, 'endpoint', 'http://127.0.0.1:9000')
    missing({ provider: 'custom', endpoint: 'https://s3.example.com' }, 'bucket')
    const fromPlugin = configError(() => resolveConfig({ plugin: { provider: 's3' }, workspaceDir: '/ws' }), 'bucket')
    assert.equal(fromPlugin.data.source, 'plugin config')
    // Completed from the other source, it resolves.
    assert.equal(resolveConfig({ plugin: { provider: 's3' }, workspace: { bucket: 'b' }, workspaceDir: '/ws' }).bucket, 'b')
  })

  test('key_id and secret_key come together', () => {
    configError(() => resolveConfig({ plugin: { key_id: 'AKIA' }, workspaceDir: '/ws' }), 'secret_key', 'is required when "key_id" is set', 'AWS_SECRET_ACCESS_KEY')
    configError(() => resolveConfig({ workspace: { secret_key: 'sk' }, workspaceDir: '/ws' }), 'key_id', 'is required when "secret_key" is set')
  })

  test('secrets: decoded, their source recorded; in the workspace file they warn without their values', () => {
    const secrets = { key_id: 'AKIA-VALUE-1', secret_key: 'SECRET-VALUE-2', encryption_key: KEY, passphrase: 'PASSPHRASE-VALUE-3' }
    const c = resolveConfig({ workspace: { provider: 's3', bucket: 'b', ...secrets }, workspaceDir: '/ws' })
    assert.deepEqual(c.secrets, { keyId: 'AKIA-VALUE-1', secretKey: 'SECRET-VALUE-2', encryptionKey: new Uint8Array(32).fill(7), passphrase: 'PASSPHRASE-VALUE-3' })
    assert.ok(c.secrets.encryptionKey instanceof Uint8Array)
    assert.deepEqual(c.secretSources, { keyId: 'workspace', secretKey: 'workspace', encryptionKey: 'workspace', passphrase: 'workspace' })
    assert.deepEqual(c.warnings, [
      "key_id is in session-sync-config.json, which the agent can read: move it to the environment (AWS_ACCESS_KEY_ID) or the plugin's secret config",
      "secret_key is in session-sync-config.json, which the agent can read: move it to the environment (AWS_SECRET_ACCESS_KEY) or the plugin's secret config",
      "encryption_key is in session-sync-config.json, which the agent can read: move it to the environment (SESSION_SYNC_KEY) or the plugin's secret config",
      "passphrase is in session-sync-config.json, which the agent can read: move it to the environment (SESSION_SYNC_PASSWORD) or the plugin's secret config",
    ])
    const shown = JSON.stringify({ warnings: c.warnings, describe: repositoryLocation(c).describe, fingerprint: fingerprintOf(c) })
    for (const v of Object.values(secrets)) assert.ok(!shown.includes(v), `${v} must not be shown`)

    const fromPlugin = resolveConfig({ plugin: { passphrase: 'p' }, workspace: { provider: 'local', path: 'x' }, workspaceDir: '/ws' })
    assert.deepEqual(fromPlugin.secretSources, { passphrase: 'plugin' })
    assert.deepEqual(fromPlugin.warnings, [])
    // The plugin's secret is used, but the copy left in the workspace still warns.
    const both = resolveConfig({ plugin: { passphrase: 'p' }, workspace: { passphrase: 'w' }, workspaceDir: '/ws' })
    assert.equal(both.secrets.passphrase, 'p')
    assert.equal(both.secretSources.passphrase, 'plugin')
    assert.equal(both.warnings.length, 1)
  })
})

describe('repositoryLocation', () => {
  const at = (cfg: SyncConfigInput) => repositoryLocation(resolveConfig({ workspace: cfg, workspaceDir: '/ws' }))

  test('local: the absolute folder', () => {
    assert.deepEqual(at({ provider: 'local', path: 'backup' }), { location: '/ws/backup', describe: 'local folder /ws/backup' })
  })

  test('each S3 provider: s3:BUCKET[/PREFIX] with the provider endpoint, as openBackend reads it', () => {
    const cases: Array<[SyncConfigInput, string, object, string]> = [
      [{ provider: 's3', bucket: 'agent-backup' }, 's3:agent-backup', { region: 'us-east-1', endpoint: undefined, forcePathStyle: false }, 'S3 bucket agent-backup in AWS region us-east-1'],
      [{ provider: 's3', bucket: 'b', region: 'eu-west-1', path_prefix: '/team/a/' }, 's3:b/team/a', { region: 'eu-west-1', endpoint: undefined, forcePathStyle: false }, 'S3 bucket b (prefix team/a/) in AWS region eu-west-1'],
      [{ provider: 'backblaze', bucket: 'b', region: 'us-west-004' }, 's3:b', { region: 'us-west-004', endpoint: 'https://s3.us-west-004.backblazeb2.com', forcePathStyle: false }, 'Backblaze B2 bucket b at https://s3.us-west-004.backblazeb2.com'],
      [{ provider: 'r2', bucket: 'b', account_id: 'acc123' }, 's3:b', { region: 'auto', endpoint: 'https://acc123.r2.cloudflarestorage.com', forcePathStyle: true }, 'Cloudflare R2 bucket b at https://acc123.r2.cloudflarestorage.com'],
      [{ provider: 'wasabi', bucket: 'b' }, 's3:b', { region: 'us-east-1', endpoint: 'https://s3.us-east-1.wasabisys.com', forcePathStyle: false }, 'Wasabi bucket b at https://s3.us-east-1.wasabisys.com'],
      [{ provider: 'minio', bucket: 'agent-backup', endpoint: 'http://127.0.0.1:9000', path_prefix: 'team/' }, 's3:agent-backup/team', { region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true }, 'MinIO bucket agent-backup (prefix team/) at http://127.0.0.1:9000'],
      [{ provider: 'custom', bucket: 'b', endpoint: 'https://s3.example.com' }, 's3:b', { region: 'us-east-1', endpoint: 'https://s3.example.com', forcePathStyle: true }, 'S3-compatible bucket b at https://s3.example.com'],
    ]
    for (const [cfg, location, s3, describe] of cases) {
      assert.deepEqual(at(cfg), { location, s3, describe }, cfg.provider)
      const parsed = parseLocation(location)
      assert.deepEqual(parsed, { kind: 's3', bucket: cfg.bucket, prefix: cfg.path_prefix?.replace(/^\/|\/$/g, '') ?? '' })
    }
  })

  test('credentials are passed only when the config has both key_id and secret_key', () => {
    const s3 = at({ provider: 'minio', bucket: 'b', endpoint: 'http://127.0.0.1:9000', key_id: 'AK', secret_key: 'SK' }).s3
    assert.deepEqual(s3?.credentials, { accessKeyId: 'AK', secretAccessKey: 'SK' })
    assert.equal(at({ provider: 'minio', bucket: 'b', endpoint: 'http://127.0.0.1:9000' }).s3?.credentials, undefined)
  })
})

describe('weakenings', () => {
  const base = fingerprintOf(resolveConfig({ workspace: { provider: 's3', bucket: 'b', path_prefix: 'p', retention_days: 30, exclude: ['*.tmp'] }, workspaceDir: '/ws' }))
  const changed = (c: Partial<ConfigFingerprint>) => weakenings(base, { ...base, ...c })

  test('a fingerprint holds no secrets and survives a JSON state file', () => {
    const c = resolveConfig({ plugin: { provider: 'local', path: 'x', passphrase: 'PW-SECRET', encryption_key: KEY }, workspaceDir: '/ws' })
    const fp = fingerprintOf(c)
    assert.deepEqual(JSON.parse(JSON.stringify(fp)), fp)
    assert.ok(!JSON.stringify(fp).includes('PW-SECRET') && !JSON.stringify(fp).includes(KEY))
    assert.deepEqual(Object.keys(fp).sort(), ['debounceSeconds', 'enabled', 'exclude', 'include', 'intervalMinutes', 'path', 'provider', 'retentionDays'])
    assert.deepEqual(weakenings(fp, fp), [])
    assert.deepEqual(weakenings(c, c), [], 'takes a resolved config as it is')
  })

  test('turning the sync off', () => {
    assert.deepEqual(changed({ enabled: false }), ['the sync was turned off ("enabled": false): changes are no longer backed up'])
    assert.deepEqual(weakenings({ ...base, enabled: false }, base), [], 'turning it on is no weakening')
  })

  test('excluding the memory files, and only newly', () => {
    assert.deepEqual(changed({ exclude: ['*.tmp', 'memory/'] }), ['"exclude" now leaves out memory/ (backed up before)'])
    assert.deepEqual(changed({ exclude: ['MEMORY.md'] }), ['"exclude" now leaves out MEMORY.md (backed up before)'])
    assert.deepEqual(changed({ exclude: ['*.md'] }), ['"exclude" now leaves out MEMORY.md and memory/ (backed up before)'])
    assert.deepEqual(changed({ exclude: ['**'] }), ['"exclude" now leaves out MEMORY.md and memory/ (backed up before)'])
    assert.deepEqual(changed({ exclude: ['*.tmp', 'node_modules/', '*.log'] }), [])
    assert.deepEqual(weakenings({ ...base, exclude: ['memory/'] }, { ...base, exclude: ['memory/', '*.log'] }), [], 'already excluded before')
  })

  test('a shorter retention, not a longer one', () => {
    assert.deepEqual(changed({ retentionDays: 7 }), ['snapshots are now kept 7 days instead of 30: older ones will be forgotten'])
    assert.deepEqual(changed({ retentionDays: 90 }), [])
  })

  test('another destination: provider, bucket, path, endpoint or prefix', () => {
    assert.deepEqual(changed({ bucket: 'other' }), ['the backups now go elsewhere (bucket "b" → "other"): the earlier snapshots stay in the old place'])
    assert.match(changed({ pathPrefix: undefined })[0], /path_prefix "p" → \(none\)/)
    assert.match(changed({ endpoint: 'http://127.0.0.1:9000' })[0], /endpoint \(none\) → "http:\/\/127.0.0.1:9000"/)
    assert.match(changed({ provider: 'local', path: '/backup', bucket: undefined, pathPrefix: undefined })[0], /provider "s3" → "local", path \(none\) → "\/backup", bucket "b" → \(none\), path_prefix "p" → \(none\)/)
    assert.deepEqual(changed({ provider: undefined }), ['no "provider" is configured any more: changes are no longer backed up'])
    const unconfigured = fingerprintOf(resolveConfig({ workspaceDir: '/ws' }))
    assert.deepEqual(weakenings(unconfigured, base), [], 'configuring a destination for the first time is no weakening')
  })

  test('several weakenings at once, and harmless changes none', () => {
    assert.equal(changed({ enabled: false, retentionDays: 1, bucket: 'x' }).length, 3)
    assert.deepEqual(changed({ intervalMinutes: 5, debounceSeconds: 1, device: 'd', include: ['x/**'] }), [])
  })
})

describe('the schema is a TypeBox schema', () => {
  test('TypeBox accepts and refuses exactly what the validator does', async () => {
    const { Value } = await import('typebox/value')
    const samples: unknown[] = [
      {},
      { provider: 'local', path: 'x' },
      { provider: 'ftp' },
      { interval_minutes: 0 },
      { interval_minutes: 0.05 },
      { interval_minutes: 1441 },
      { interval_minutes: 'fifteen' },
      { retention_days: 0.5 },
      { include: ['notes/**', ''] },
      { exclude: 'x' },
      { enabled: 'yes' },
      { device: 'a b' },
      { device: 'laptop-1' },
      { encryption_key: Buffer.alloc(32, 1).toString('base64') },
      { encryption_key: 'short' },
      { endpoint: 'ftp://x' },
      { endpoint: 'http://127.0.0.1:9000' },
      { bucket: 'a/b' },
      { debounce_seconds: -1 },
      { path: '' },
    ]
    for (const sample of samples) {
      let ours = true
      try {
        validateConfigValue(sample, 'test')
      } catch {
        ours = false
      }
      assert.equal(Value.Check(SyncConfigSchema, sample), ours, JSON.stringify(sample))
    }
  })
})
