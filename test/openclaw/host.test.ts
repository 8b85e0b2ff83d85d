// The plugin in the real OpenClaw host (openclaw@2026.9.6, which needs Node >= 24.16): the package is
// packed, installed the way users get it (`plugins install npm-pack:<tgz>`: OpenClaw's managed npm
// project, runtime dependencies only, its install-time code scan), inspected, audited, and then
// called through a gateway on loopback with /tools/invoke. The host's setup: support/host.ts.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { cleanup } from '../helpers.js'
import { TestS3Server } from '../s3.js'
import { ensureHost, HostHome, hostSkip, jsonOf } from './support/host.js'

after(cleanup)

describe('OpenClaw plugin in the real host', { skip: hostSkip, timeout: 15 * 60_000 }, () => {
  const host = new HostHome()
  const { home, stateDir } = host
  const workspace = join(stateDir, 'workspace')
  const repo = join(home, 'repo')
  const openclaw = (args: string[]) => host.openclaw(args)

  before(ensureHost)

  it('installs from the packed tarball: npm-pack: install, its code scan, runtime dependencies only', () => {
    const r = host.installPlugin()
    assert.match(r.all, /Installed plugin: session-sync-cloud/, r.all)
  })

  it('plugins inspect --runtime: loaded, with the tools, the schedule, /sync_now, its hooks, and no diagnostics', () => {
    const r = openclaw(['plugins', 'inspect', 'session-sync-cloud', '--runtime', '--json'])
    const out = jsonOf(r.stdout)
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
    const out = jsonOf(r.stdout)
    assert.ok(Array.isArray(out.findings), r.all)
    const ours = out.findings.filter((f: unknown) => /session-sync/i.test(JSON.stringify(f)))
    assert.deepEqual(ours, [])
  })

  it('a gateway on loopback: /tools/invoke sync_status and sync_now back up the agent workspace to a local repository, with a key the first sync generates', async () => {
    mkdirSync(join(workspace, 'memory'), { recursive: true })
    writeFileSync(join(workspace, 'MEMORY.md'), '# Memory\n- the user likes tea\n')
    writeFileSync(join(workspace, 'memory', '2026-12-05.md'), 'a day of testing\n')
    host.setPluginConfig({ provider: 'local', path: repo })

    const gateway = await host.startGateway()
    try {
      const first = await gateway.invoke('sync_status')
      assert.equal(first.details.ok, true, JSON.stringify(first))
      assert.equal(first.details.sync.configured, true)
      assert.equal(first.details.sync.agent, 'main')

      const now = await gateway.invoke('sync_now')
      assert.equal(now.details.ok, true, JSON.stringify(now))
      assert.equal(now.details.sync.result, 'ok')
      assert.ok(existsSync(join(repo, 'config')), 'the repository was created in the configured folder')

      const after = await gateway.invoke('sync_status')
      const s = after.details.sync as { lastSync?: { result: string }; storageReachable: boolean; snapshotsPerDevice: Record<string, number> }
      assert.equal(s.storageReachable, true)
      assert.equal(Object.values(s.snapshotsPerDevice).reduce((a, b) => a + b, 0), 1)
      assert.match(readFileSync(join(workspace, 'memory', 'sync-log.jsonl'), 'utf8'), /"kind":"sync"/)
    } finally {
      await gateway.terminate()
    }
  })

  it("openclaw backup create --dry-run: the host's own unencrypted archive leaves out the generated key and the caches, and keeps the sync's state", () => {
    const ours = join(stateDir, 'session-sync-cloud')
    assert.equal(readdirSync(join(ours, 'keys')).filter((f) => f.endsWith('.key')).length, 1, 'the first sync generated a key')
    assert.ok(readdirSync(join(ours, 'cache')).length > 0, 'the repository cached files')
    const r = openclaw(['backup', 'create', '--dry-run', '--json'])
    assert.equal(r.status, 0, r.all)
    const plan = jsonOf(r.stdout) as { assets: Array<{ sourcePath: string }>; skipped: Array<{ sourcePath: string; reason: string }> }
    const skipped = new Map(plan.skipped.map((s) => [s.sourcePath, s.reason]))
    assert.equal(skipped.get(join(ours, 'keys')), 'regenerable', r.stdout)
    assert.equal(skipped.get(join(ours, 'cache')), 'regenerable', r.stdout)
    assert.ok(!skipped.has(join(ours, 'workspaces')), r.stdout)
    assert.ok(plan.assets.some((a) => a.sourcePath === stateDir), `the state folder, ours within it, is archived: ${r.stdout}`)
  })

  it('secrets from `openclaw secrets store` and S3: the catch-up sync, the tools, a reset, and a clean SIGTERM', async () => {
    const s3 = await TestS3Server.start(['agents'])
    try {
      // The three secrets in OpenClaw's store (s3rver accepts only its own credentials); the plugin
      // config holds SecretRefs to them, and the gateway's environment holds no secret at all.
      const encryptionKey = randomBytes(32).toString('base64')
      for (const [name, value] of [['SYNC_KEY_ID', 'S3RVER'], ['SYNC_SECRET_KEY', 'S3RVER'], ['SYNC_ENCRYPTION_KEY', encryptionKey]]) {
        const r = host.openclaw(['secrets', 'store', 'set', name, '--kind', 'secret'], { input: value })
        assert.equal(r.status, 0, r.all)
      }
      const ws = join(home, 'workspace-s3')
      mkdirSync(join(ws, 'memory'), { recursive: true })
      writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- the user keeps backups on S3\n')
      const ref = (id: string) => ({ source: 'store', provider: 'default', id })
      host.editConfig((config) => {
        config.agents = { ...config.agents, defaults: { ...config.agents?.defaults, workspace: ws } }
      })
      host.setPluginConfig({ provider: 'custom', endpoint: s3.endpoint, bucket: 'agents', path_prefix: 'host', key_id: ref('SYNC_KEY_ID'), secret_key: ref('SYNC_SECRET_KEY'), encryption_key: ref('SYNC_ENCRYPTION_KEY'), debounce_seconds: 0 })
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

      const gw = await host.startGateway()
      try {
        // The catch-up sync at start, before any call: a snapshot in the bucket, then (the sync's
        // last step) its line in the log.
        const deadline = Date.now() + 180_000
        while (((await snapshotsInBucket()).length === 0 || syncs().length === 0) && Date.now() < deadline) {
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
          const r = openclaw(['gateway', 'call', method, '--port', String(gw.port), '--token', gw.token, '--json', '--params', JSON.stringify(params)])
          assert.equal(r.status, 0, `${method}: ${r.all}`)
          return jsonOf(r.stdout)
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
})
