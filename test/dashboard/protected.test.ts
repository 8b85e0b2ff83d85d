// The dashboard on a protected repository (the Object Lock model, a versioned bucket whose writer may
// not delete): the overview's protection, unexplained delete markers and suspicious snapshots, and a
// retention plan that is the sync layer's own (storage times), from the workspace and from --repo.
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createDashboardApp, repositorySource, TOKEN_HEADER, type DashboardSource } from '../../src/dashboard/index.js'
import type { Asset } from '../../src/dashboard/assets.js'
import { ObjectLockModel, WorkspaceSync, type Backend, type SyncStatus } from '../../src/index.js'
import { cleanup, tempDir } from '../helpers.js'

after(cleanup)

const ORIGIN = 'http://127.0.0.1:4567'
const TOKEN = 'a-test-token-that-is-long-enough'
const assets = new Map<string, Asset>([['index.html', { body: '<!doctype html><title>t</title>', type: 'text/html; charset=utf-8' }]])
const DAY = 86_400_000

interface SnapInfo { id: string; keep: boolean; reason: string; storedAt?: string; suspicious?: string }

function api(sync: DashboardSource) {
  const app = createDashboardApp({ sync, token: TOKEN, origin: () => ORIGIN, assets }).app
  return async <T>(path: string): Promise<T> => {
    const r = await app.request(`${ORIGIN}${path}`, { headers: { host: '127.0.0.1:4567', [TOKEN_HEADER]: TOKEN } })
    assert.equal(r.status, 200, path)
    return (await r.json()) as T
  }
}

describe('dashboard on a protected repository', () => {
  it('names the protection, an unexplained delete marker and a forged snapshot (with why); its retention plan judges the forged one by its storage time', async () => {
    const root = tempDir('dash-protected')
    const ws = join(root, 'workspace')
    mkdirSync(join(ws, 'memory'), { recursive: true })
    writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- the user likes tea\n')
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), debounce_seconds: 0, protect: true, retention_days: 7, device: 'laptop' }))
    let clock = Date.now() - DAY
    const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'COMPLIANCE', days: 14 }, now: () => clock })
    const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root, SESSION_SYNC_KEY: Buffer.alloc(32, 5).toString('base64') }
    const sync = WorkspaceSync.create({ workspace: ws, env, now: () => new Date(clock) })
    ;(sync as unknown as { backend: Backend }).backend = model.backend('writer')
    try {
      await sync.init()
      const real = (await sync.syncNow({ trigger: 'manual' })).snapshot!
      // A junk snapshot dated three weeks back, stored an hour later: by its own time retention
      // would drop it (older than 7 days); by the storage's, it is within them.
      clock += 3_600_000
      const repo = await sync.repository()
      const snap = await repo.findSnapshot(real)
      const forged = await repo.saveSnapshot({ time: new Date(clock - 21 * DAY).toISOString(), host: snap.host, user: snap.user, paths: snap.paths, tags: snap.tags, tree: Buffer.from(snap.tree, 'hex'), parents: [], excludes: [] })
      const storedAt = new Date(clock).toISOString()
      // Someone with a deleting credential removes an index file; the agent's daily check finds it.
      const index = [...model.objects.keys()].find((k) => k.startsWith('index/'))!
      await model.backend('deleter').remove({ type: 'index', name: index.slice('index/'.length) })
      clock = Date.now()
      await sync.checkVersions()

      const get = api(sync)
      const list = await get<{ snapshots: SnapInfo[] }>('/api/snapshots')
      const f = list.snapshots.find((x) => x.id === forged)!
      assert.equal(f.storedAt, storedAt)
      assert.match(f.suspicious ?? '', /^its time is 21 days before the storage received it .*forged or from a clock far off: retention judges it by the storage's time$/)
      assert.deepEqual([f.keep, f.reason], [true, 'within 7 days'], 'judged by its storage time, as the sync\'s own retention judges it')
      assert.deepEqual((await sync.retentionPlan()).find((d) => d.id === forged)?.reason, 'within 7 days')
      assert.equal(list.snapshots.find((x) => x.id === real)?.suspicious, undefined)

      const o = await get<{ status: SyncStatus }>('/api/overview')
      assert.equal(o.status.protected, true)
      assert.deepEqual(o.status.protection, { versioning: 'enabled', objectLock: true, lockMode: 'COMPLIANCE', lockDays: 14 })
      assert.match(o.status.pruning ?? '', /trusted device/)
      assert.deepEqual(o.status.suspiciousSnapshots, [forged])
      assert.deepEqual(o.status.versionCheck?.events.map((e) => [e.key, e.kind]), [[index, 'delete']])

      // The same from the repository alone (session-sync --repo … dashboard).
      const ro = api(repositorySource(repo, { retentionDays: 7 }))
      const roList = await ro<{ snapshots: SnapInfo[] }>('/api/snapshots')
      const rf = roList.snapshots.find((x) => x.id === forged)!
      assert.deepEqual([rf.keep, rf.reason], [true, 'within 7 days'])
      assert.match(rf.suspicious ?? '', /21 days before/)
      const ro1 = await ro<{ status: SyncStatus }>('/api/overview')
      assert.equal(ro1.status.protected, true)
      assert.deepEqual(ro1.status.suspiciousSnapshots, [forged])
      assert.deepEqual(ro1.status.versionCheck?.events.map((e) => [e.key, e.kind]), [[index, 'delete']])
      assert.ok(ro1.status.warnings.some((w) => /1 delete marker\(s\) that no trusted prune/.test(w)), ro1.status.warnings.join('\n'))

      // A listing that fails (the network, not storage without versions): the overview still
      // answers and says the check failed, not that the storage keeps no versions.
      const versions = repo.checkVersions.bind(repo)
      repo.checkVersions = async () => {
        throw Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET' })
      }
      try {
        const down = await api(repositorySource(repo, { retentionDays: 7 }))<{ status: SyncStatus }>('/api/overview')
        assert.equal(down.status.versionCheck, undefined)
        assert.ok(down.status.warnings.some((w) => /the check of the storage's object versions failed .*ECONNRESET/.test(w)), down.status.warnings.join('\n'))
      } finally {
        repo.checkVersions = versions
      }
    } finally {
      await sync.close()
    }
  })
})
