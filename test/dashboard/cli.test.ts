// `session-sync dashboard` from the built CLI (dist/cli.js), as a user runs it: the first stdout
// line is the URL with the token, which answers 200; SIGTERM stops it with exit status 0.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { cleanup, tempDir } from '../helpers.js'
import { seededWorkspace } from './support.js'

after(cleanup)

const ROOT = join(import.meta.dirname, '..', '..')
const CLI = join(ROOT, 'dist', 'cli.js')

describe('session-sync dashboard', () => {
  it('prints its URL first, answers it on 127.0.0.1 only, and exits 0 on SIGTERM', async () => {
    assert.ok(existsSync(CLI), 'run "npm run build" first (npm test does)')
    const s = await seededWorkspace(tempDir('dash-cli'))
    await s.sync.close()
    const child = spawn(process.execPath, [CLI, 'dashboard', '--workspace', s.ws, '--port', '0'], { env: { ...process.env, ...s.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve)
        child.once('exit', () => reject(new Error('the dashboard exited before printing its URL')))
      })
      const url = new URL(first)
      assert.equal(url.hostname, '127.0.0.1')
      assert.match(url.searchParams.get('token') ?? '', /^[A-Za-z0-9_-]{32}$/)
      const page = await fetch(url)
      assert.equal(page.status, 200)
      assert.match(page.headers.get('set-cookie') ?? '', /SameSite=Strict/)
      assert.match(await page.text(), /<script type="module" src="app.js">/)
      assert.equal((await fetch(`${url.origin}/app.js`)).status, 200)
      assert.equal((await fetch(`${url.origin}/api/overview`)).status, 401)
      const api = await fetch(`${url.origin}/api/snapshots`, { headers: { 'x-session-sync-token': url.searchParams.get('token')! } })
      assert.equal(((await api.json()) as { snapshots: unknown[] }).snapshots.length, 3)
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0)
  })

  it('--repo without a workspace: read-only (the API says so and refuses a restore with READ_ONLY)', async () => {
    const s = await seededWorkspace(tempDir('dash-cli-repo'))
    const key = s.sync.showKey()
    await s.sync.close()
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: s.root, SESSION_SYNC_KEY: key }
    delete env.SESSION_SYNC_PASSWORD
    const child = spawn(process.execPath, [CLI, '--repo', join(s.root, 'repo'), 'dashboard', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    let err = ''
    child.stderr!.on('data', (d) => (err += d))
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve)
        child.once('exit', () => reject(new Error(`the dashboard exited before printing its URL: ${err}`)))
      })
      const url = new URL(first)
      const headers = { 'x-session-sync-token': url.searchParams.get('token')! }
      const list = (await (await fetch(`${url.origin}/api/snapshots`, { headers })).json()) as { readOnly: boolean; snapshots: unknown[] }
      assert.equal(list.readOnly, true)
      assert.equal(list.snapshots.length, 3)
      const r = await fetch(`${url.origin}/api/restore`, { method: 'POST', headers: { ...headers, origin: url.origin, 'content-type': 'application/json' }, body: JSON.stringify({ snapshot: s.snapshots[0], mode: 'staged' }) })
      assert.equal(r.status, 403)
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'READ_ONLY')
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0)
  })
})
