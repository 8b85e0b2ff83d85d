// The package as an OpenClaw plugin: the committed manifest equals the one generated from the
// sync's config schema and the tool list, package.json points at the built entry, and that entry is
// a bundle of its own with nothing OpenClaw's code scanner objects to (no child_process, the host's
// SDK left to the host). The real host loads it in host.test.ts.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
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
    assert.deepEqual(m.configSchema, JSON.parse(JSON.stringify(SyncConfigSchema)))
    assert.equal(m.configSchema.required, undefined, 'an unconfigured plugin still loads')
    assert.deepEqual(m.contracts.tools, [...TOOL_NAMES])
    assert.deepEqual(Object.keys(m.toolMetadata).sort(), [...TOOL_NAMES].sort())
    assert.equal(m.toolMetadata.sync_restore.optional, true)
    assert.equal(m.toolMetadata.sync_undo.optional, true)
    assert.ok(m.toolMetadata.sync_status.profiles.includes('coding'))
    assert.deepEqual(m.configContracts.secretInputs.paths.map((p: { path: string }) => p.path), [...SECRET_KEYS])
    for (const key of SECRET_KEYS) assert.equal(m.uiHints[key].sensitive, true, key)
    assert.equal(m.uiHints.bucket.sensitive, undefined)
    assert.deepEqual(m.categories, ['memory'])
    for (const dir of m.skills) assert.ok(existsSync(join(root, dir, 'session-sync-cloud', 'SKILL.md')), dir)
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
