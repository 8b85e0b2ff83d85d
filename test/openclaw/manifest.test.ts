// The package as an OpenClaw plugin: the committed manifest equals the one generated from the
// sync's config schema and the tool list, package.json points at the built entry, and that entry is
// a bundle of its own with nothing OpenClaw's code scanner objects to (no child_process, the host's
// SDK left to the host). The real host loads it in host.test.ts.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { Value } from 'typebox/value'
import { SECRET_KEYS, SyncConfigSchema } from '../../src/index.js'
import { TOOL_NAMES } from '../../src/openclaw/tools.js'
// @ts-expect-error a script in JavaScript, without types
import { buildManifest, MANIFEST_PATH, manifestText } from '../../scripts/plugin-manifest.mjs'

const root = join(import.meta.dirname, '..', '..')
const manifest = JSON.parse(readFileSync(MANIFEST_PATH, 'utf8'))

describe('OpenClaw plugin: manifest and package', () => {
  it('the committed openclaw.plugin.json is what scripts/plugin-manifest.mjs generates', () => {
    assert.equal(readFileSync(MANIFEST_PATH, 'utf8'), manifestText(), 'stale: run npm run plugin-manifest')
  })

  it('declares the sync config schema (every key optional), the tools, the secrets and the skill', () => {
    const m = buildManifest()
    assert.equal(m.id, 'session-sync-cloud')
    const { properties, $defs, ...rest } = m.configSchema
    const { properties: syncProperties, ...syncRest } = JSON.parse(JSON.stringify(SyncConfigSchema))
    assert.deepEqual(rest, syncRest)
    assert.deepEqual(Object.keys(properties), Object.keys(syncProperties), 'the same keys')
    for (const key of Object.keys(syncProperties)) {
      if ((SECRET_KEYS as readonly string[]).includes(key)) continue
      assert.deepEqual(properties[key], syncProperties[key], key)
    }
    assert.deepEqual(Object.keys($defs), ['secretRef'])
    assert.equal(m.configSchema.required, undefined, 'an unconfigured plugin still loads')
    assert.deepEqual(m.contracts.tools, [...TOOL_NAMES])
    assert.deepEqual(Object.keys(m.toolMetadata).sort(), [...TOOL_NAMES].sort())
    assert.equal(m.toolMetadata.sync_restore.optional, true)
    assert.equal(m.toolMetadata.sync_undo.optional, true)
    assert.ok(m.toolMetadata.sync_status.profiles.includes('coding'))
    assert.deepEqual(m.configContracts.secretInputs.paths, SECRET_KEYS.map((path) => ({ path, expected: 'string' })))
    for (const key of SECRET_KEYS) assert.equal(m.uiHints[key].sensitive, true, key)
    assert.equal(m.uiHints.bucket.sensitive, undefined)
    assert.deepEqual(m.categories, ['memory'])
    // The generated keys stay out of the host's own (unencrypted) backups, and so do the caches: the
    // host omits a path declared regenerable (host.test.ts sees it in "openclaw backup create
    // --dry-run --json"); the rest of the state folder is kept.
    for (const path of ['session-sync-cloud/keys', 'session-sync-cloud/cache']) {
      const declared = m.backupResources.find((r: { relativePath: string }) => r.relativePath === path)
      assert.deepEqual(declared, { disposition: 'regenerable', scope: 'state', relativePath: path })
    }
    assert.ok(m.backupResources.some((r: { relativePath: string; disposition: string }) => r.relativePath === 'session-sync-cloud/workspaces' && r.disposition === 'include'))
    for (const dir of m.skills) assert.ok(existsSync(join(root, dir, 'session-sync-cloud', 'SKILL.md')), dir)
  })

  it('each secret key takes the secret itself (as the sync checks it) or an OpenClaw SecretRef; nothing else', () => {
    const schema = buildManifest().configSchema
    const check = (config: Record<string, unknown>) => Value.Check(schema, config)
    const key = randomBytes(32).toString('base64')
    const literal: Record<string, string> = { key_id: 'AKIA-1', secret_key: 'sk-2', encryption_key: key, passphrase: 'correct horse' }
    for (const secret of SECRET_KEYS) {
      const { description, anyOf } = schema.properties[secret]
      assert.equal(description, SyncConfigSchema.properties[secret].description, secret)
      const { description: _d, ...sync } = SyncConfigSchema.properties[secret]
      assert.deepEqual(anyOf, [sync, { $ref: '#/$defs/secretRef' }], secret)
      assert.ok(check({ [secret]: literal[secret] }), `${secret}: the secret itself`)
      for (const ref of [
        { source: 'store', provider: 'default', id: 'SYNC_SECRET' },
        { source: 'env', provider: 'default', id: 'SYNC_SECRET' },
        { source: 'file', provider: 'filemain', id: '/sync/secret' },
        { source: 'exec', provider: 'vault', id: 'sync/secret#value' },
      ]) {
        assert.ok(check({ [secret]: ref }), `${secret}: ${JSON.stringify(ref)}`)
      }
      for (const bad of [
        { source: 'store', provider: 'default', id: 'X', extra: true },
        { source: 'vault', provider: 'default', id: 'X' },
        { source: 'store', id: 'X' },
        { source: 'store', provider: 'Default', id: 'X' },
        { source: 'store', provider: 'default', id: '' },
        '',
        42,
      ]) {
        assert.ok(!check({ [secret]: bad }), `${secret}: ${JSON.stringify(bad)} must be refused`)
      }
    }
    // A literal key is still checked as the sync checks it.
    assert.ok(!check({ encryption_key: 'not-a-key' }))
    // Only the secret keys take references.
    assert.ok(!check({ bucket: { source: 'env', provider: 'default', id: 'BUCKET' } }))
    assert.ok(check({ provider: 'minio', endpoint: 'http://127.0.0.1:9000', bucket: 'b', ...literal }))
  })

  it('package.json: the openclaw block names the built entry, and the package ships the manifest and the skill', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    assert.deepEqual(pkg.openclaw.extensions, ['./dist/openclaw.js'])
    assert.equal(pkg.version, manifest.version)
    for (const f of ['dist', 'openclaw.plugin.json', 'skills']) assert.ok(pkg.files.includes(f), f)
    assert.equal(pkg.dependencies?.openclaw, undefined, 'the host is not a dependency')
    assert.equal(pkg.peerDependencies?.openclaw, undefined, 'nor a peer npm would install for library users')
  })

  it('dist/openclaw.js is its own bundle: no shared chunks, no child_process, nothing the code scanner flags', (t) => {
    const entry = join(root, 'dist', 'openclaw.js')
    if (!existsSync(entry)) return t.skip('dist/openclaw.js is not built (npm run build)')
    const code = readFileSync(entry, 'utf8')
    const imports = [...code.matchAll(/^import\s.*?from\s+["']([^"']+)["']/gm)].map((m) => m[1])
    assert.deepEqual(imports.filter((s) => s.startsWith('.')), [], 'no chunk shared with the library or the CLI')
    assert.deepEqual(imports.filter((s) => s.startsWith('openclaw')).sort(), ['openclaw/plugin-sdk/agent-scope-runtime', 'openclaw/plugin-sdk/plugin-entry'])
    assert.ok(!/child_process/.test(code), 'no child_process')
    // OpenClaw's scanner (src/skills/security/scanner.ts): a network send in a file that reads
    // files or the environment is flagged.
    assert.ok(!/\bfetch\s*\(|\bpost\s*\(|\.\s*post\s*\(|http\.request\s*\(/i.test(code), 'no network send in the bundle itself')
    assert.ok(!/\beval\s*\(|new\s+Function\s*\(/.test(code), 'no dynamic code')
  })
})
