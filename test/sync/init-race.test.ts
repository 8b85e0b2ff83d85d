// Two first syncs of one repository location at once, with no key given: one key is generated and
// kept, both end up on the same repository, and a failed creation never deletes the key (the
// repository may exist with it all the same).
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { LocalBackend, WorkspaceSync, type Backend } from '../../src/index.js'
import { cleanup, tempDir } from '../helpers.js'

after(cleanup)

function workspace(root: string, name: string, repo: string): string {
  const ws = join(root, name)
  mkdirSync(join(ws, 'memory'), { recursive: true })
  writeFileSync(join(ws, 'memory', 'note.md'), `a note of ${name}\n`)
  writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: repo, debounce_seconds: 0 }))
  return ws
}

describe('generating the key of a new repository', () => {
  it('two inits of one location at once (two agents, or a tool call racing the first sync): one key, one repository, both back up', async () => {
    const root = tempDir('init-race')
    const repo = join(root, 'repo')
    const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root }
    const a = WorkspaceSync.create({ workspace: workspace(root, 'a', repo), env })
    const b = WorkspaceSync.create({ workspace: workspace(root, 'b', repo), env })
    const [ra, rb] = await Promise.all([a.init(), b.init()])
    assert.deepEqual([ra.created, rb.created].sort(), [false, true])
    assert.equal(ra.repositoryId, rb.repositoryId)
    assert.equal(readdirSync(join(root, 'state', 'keys')).length, 1)
    assert.equal((await a.syncNow({ trigger: 'manual' })).result, 'ok')
    assert.equal((await b.syncNow({ trigger: 'manual' })).result, 'ok')
    assert.equal(a.showKey(), b.showKey())
    await a.close()
    await b.close()
  })

  it('a failed creation keeps the generated key; one whose config reached the storage though its reply was lost opens the repository with that key', async () => {
    const root = tempDir('init-lost-reply')
    const repo = join(root, 'repo')
    const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root }
    const sync = WorkspaceSync.create({ workspace: workspace(root, 'ws', repo), env })
    const local = new LocalBackend(repo)
    let mode: 'down' | 'lost-reply' = 'down'
    const flaky: Backend = Object.assign(Object.create(local) as Backend, {
      async save(h: Parameters<Backend['save']>[0], data: Uint8Array) {
        if (h.type === 'config' && mode === 'down') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
        await local.save(h, data)
        if (h.type === 'config' && mode === 'lost-reply') {
          mode = 'down'
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })
        }
      },
    })
    ;(sync as unknown as { backend: Backend }).backend = flaky
    await assert.rejects(sync.init())
    const keys = readdirSync(join(root, 'state', 'keys'))
    assert.equal(keys.length, 1, 'the generated key is kept')
    const key = sync.showKey()
    mode = 'lost-reply'
    const r = await sync.init()
    assert.equal(r.created, false, 'opened, not created again')
    assert.equal(sync.showKey(), key, 'with the key generated the first time')
    assert.equal((await sync.syncNow({ trigger: 'manual' })).result, 'ok')
    await sync.close()
  })
})
