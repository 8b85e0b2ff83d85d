// The dashboard's HTTP rules, through Hono's app.request() (no socket): the token, the Host, the
// origin of state-changing calls, the headers, and paths that must not escape.
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createDashboardApp, repositorySource, TOKEN_HEADER, cookieName } from '../../src/dashboard/index.js'
import type { Asset } from '../../src/dashboard/assets.js'
import { cleanup, tempDir } from '../helpers.js'
import { MEMORY_V2, seededWorkspace, type Seeded } from './support.js'

after(cleanup)

const ORIGIN = 'http://127.0.0.1:4567'
const TOKEN = 'a-test-token-that-is-long-enough'
const COOKIE = cookieName(ORIGIN)
const assets = new Map<string, Asset>([
  ['index.html', { body: '<!doctype html><title>t</title>', type: 'text/html; charset=utf-8' }],
  ['app.js', { body: 'console.log(1)', type: 'text/javascript; charset=utf-8' }],
  ['app.css', { body: 'body{}', type: 'text/css; charset=utf-8' }],
])

describe('dashboard server', () => {
  let s: Seeded
  let app: ReturnType<typeof createDashboardApp>['app']
  const get = (path: string, headers: Record<string, string> = {}) => app.request(`${ORIGIN}${path}`, { headers: { host: '127.0.0.1:4567', ...headers } })
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request(`${ORIGIN}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { host: '127.0.0.1:4567', 'content-type': 'application/json', origin: ORIGIN, [TOKEN_HEADER]: TOKEN, ...headers } })
  const auth = { [TOKEN_HEADER]: TOKEN }

  before(async () => {
    s = await seededWorkspace(tempDir('dash'))
    app = createDashboardApp({ sync: s.sync, token: TOKEN, origin: () => ORIGIN, assets }).app
  })
  after(() => s.sync.close())

  it('answers the API with the token and refuses it without the token or with a wrong one', async () => {
    assert.equal((await get('/api/overview', auth)).status, 200)
    assert.equal((await get('/api/overview')).status, 401)
    assert.equal((await get('/api/overview', { [TOKEN_HEADER]: `${TOKEN}x` })).status, 401)
    assert.equal((await get('/api/overview', { [TOKEN_HEADER]: TOKEN.slice(0, -1) })).status, 401)
    // the cookie opens downloads only, not the API
    assert.equal((await get('/api/overview', { cookie: `${COOKIE}=${TOKEN}` })).status, 401)
  })

  it('refuses a foreign Host (DNS rebinding) on every route', async () => {
    for (const host of ['evil.example:4567', 'localhost:4567', '127.0.0.1:4568', '127.0.0.1']) {
      assert.equal((await app.request(`${ORIGIN}/api/overview`, { headers: { host, ...auth } })).status, 421, host)
      assert.equal((await app.request(`${ORIGIN}/?token=${TOKEN}`, { headers: { host } })).status, 421, host)
    }
  })

  it('serves the page with ?token= directly (200), setting a SameSite=Strict HttpOnly cookie; without it, 401', async () => {
    const r = await get(`/?token=${TOKEN}`)
    assert.equal(r.status, 200)
    const cookie = r.headers.get('set-cookie') ?? ''
    assert.match(cookie, new RegExp(`^${COOKIE}=${TOKEN};`))
    assert.match(cookie, /HttpOnly/)
    assert.match(cookie, /SameSite=Strict/)
    assert.equal((await get('/')).status, 401)
    assert.equal((await get('/?token=wrong')).status, 401)
    assert.equal((await get('/', { cookie: `${COOKIE}=${TOKEN}` })).status, 200)
    // cookies do not tell ports apart: each dashboard's has its own name, so two on one host keep theirs
    assert.equal(COOKIE, 'session_sync_dashboard_4567')
    assert.equal((await get('/', { cookie: `session_sync_dashboard_4568=${TOKEN}` })).status, 401)
  })

  it('sends a strict CSP and no CORS headers, even to a cross-origin request', async () => {
    const r = await get('/api/overview', { ...auth, origin: 'https://evil.example' })
    const csp = r.headers.get('content-security-policy') ?? ''
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'(;|$)/)
    assert.doesNotMatch(csp, /unsafe/)
    for (const [k] of r.headers) assert.doesNotMatch(k, /^access-control-/)
    const pre = await app.request(`${ORIGIN}/api/restore`, { method: 'OPTIONS', headers: { host: '127.0.0.1:4567', origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
    for (const [k] of pre.headers) assert.doesNotMatch(k, /^access-control-/)
  })

  it('refuses state-changing calls from another origin, without JSON, or as GET', async () => {
    const body = { snapshot: s.snapshots[1], paths: ['MEMORY.md'], mode: 'in-place' }
    assert.equal((await post('/api/restore', body, { origin: 'https://evil.example' })).status, 403)
    assert.equal((await post('/api/restore', body, { origin: 'null' })).status, 403)
    const noOrigin = await app.request(`${ORIGIN}/api/restore`, { method: 'POST', body: JSON.stringify(body), headers: { host: '127.0.0.1:4567', 'content-type': 'application/json', ...auth } })
    assert.equal(noOrigin.status, 403)
    assert.equal((await post('/api/restore', body, { 'content-type': 'text/plain' })).status, 415)
    assert.equal((await post('/api/restore', body, { 'sec-fetch-site': 'cross-site' })).status, 403)
    assert.equal((await post('/api/restore', body, { [TOKEN_HEADER]: 'wrong' })).status, 401)
    assert.equal((await get('/api/restore', auth)).status, 404)
    // nothing was restored by any of them
    assert.notEqual(readFileSync(join(s.ws, 'MEMORY.md'), 'utf8'), MEMORY_V2)
  })

  it('never lets a path escape: downloads and restores refuse .., absolute and NUL paths', async () => {
    const snap = s.snapshots[2]
    for (const p of ['../state', '../../etc/passwd', '/etc/passwd', 'memory/../../x', 'a\0b', '..']) {
      const enc = encodeURIComponent(p)
      for (const url of [`/download/file?snapshot=${snap}&path=${enc}`, `/download/zip?snapshot=${snap}&path=${enc}`, `/api/preview?snapshot=${snap}&path=${enc}`, `/api/folder?snapshot=${snap}&path=${enc}`]) {
        const r = await get(url, auth)
        assert.equal(r.status, 400, `${url}: ${r.status}`)
      }
      const r = await post('/api/restore', { snapshot: snap, paths: [p], mode: 'staged' })
      assert.equal(r.status, 400, p)
    }
    // a snapshot id that is not one
    assert.equal((await get(`/download/file?snapshot=..%2F..&path=MEMORY.md`, auth)).status, 400)
    assert.equal(existsSync(join(s.root, 'x')), false)
  })

  it('downloads a file with the cookie, not without it', async () => {
    const url = `/download/file?snapshot=${s.snapshots[1]}&path=MEMORY.md`
    assert.equal((await get(url)).status, 401)
    const r = await get(url, { cookie: `${COOKIE}=${TOKEN}` })
    assert.equal(r.status, 200)
    assert.equal(await r.text(), MEMORY_V2)
    assert.match(r.headers.get('content-disposition') ?? '', /attachment; filename="MEMORY.md"/)
  })

  it('serves only the fixed assets; no request path reaches the disk', async () => {
    assert.equal((await get('/app.js')).status, 200)
    assert.equal((await get('/app.css')).status, 200)
    for (const p of ['/package.json', '/../package.json', '/%2e%2e/package.json', '/dist/cli.js', '/app.js.map', '/src/dashboard/server.ts']) assert.equal((await get(p)).status, 404, p)
  })

  it('previews a restore as the exact sets it would change, and lists what the agent forgot', async () => {
    const r = await post('/api/restore/preview', { snapshot: s.snapshots[0], paths: ['memory'] })
    assert.equal(r.status, 200)
    const p = (await r.json()) as { diff: { added: string[]; changed: string[]; removed: string[]; unchanged: string[] } }
    assert.deepEqual(p.diff.changed, ['memory/2026-12-01.md'])
    assert.deepEqual(p.diff.removed, ['memory/2026-12-02.md'])
    assert.deepEqual(p.diff.added, [])
    const f = (await (await get(`/api/forgotten?from=${s.snapshots[1]}&to=${s.snapshots[2]}`, auth)).json()) as { files: string[]; lines: Array<{ path: string; lines: string[] }> }
    assert.deepEqual(f.files, [])
    assert.deepEqual(f.lines.find((l) => l.path === 'MEMORY.md')?.lines, ['- the user likes tea', '- the user lives in Lyon', '- the cat is called Miso', '- standup is at 9:30', '- the user learned Rust in December'])
    assert.deepEqual(f.lines.find((l) => l.path === 'memory/2026-12-01.md')?.lines, ['- met the user'])
  })

  it('says for each snapshot why it is kept, by the sync\'s retention rule', async () => {
    const list = (await (await get('/api/snapshots', auth)).json()) as { snapshots: Array<{ id: string; keep: boolean; reason: string; suspicious?: string }> }
    assert.ok(list.snapshots.length > 0)
    // The seeded snapshots are all recent: each is kept, and the rule that keeps it is named.
    for (const snap of list.snapshots) {
      assert.equal(snap.keep, true, snap.id)
      assert.match(snap.reason, /^within \d+ days$|^newest of device |^restore safety within /, snap.id)
      assert.equal(snap.suspicious, undefined, 'stored when its sync ran: its time fits')
    }
  })

  it('sends nothing secret: no key, no secret config value, in any API answer', async () => {
    const key = s.sync.showKey()
    for (const url of ['/api/overview', '/api/snapshots', '/api/restores', `/api/search?q=user`]) {
      const text = await (await get(url, auth)).text()
      assert.equal(text.includes(key), false, url)
      assert.doesNotMatch(text, /secret_key|encryption_key|passphrase/)
    }
  })

  it('read-only on a repository without a workspace: reads answer, every state-changing call is refused with READ_ONLY', async () => {
    const ro = createDashboardApp({ sync: repositorySource(await s.sync.repository()), token: TOKEN, origin: () => ORIGIN, assets }).app
    const roGet = (path: string) => ro.request(`${ORIGIN}${path}`, { headers: { host: '127.0.0.1:4567', ...auth } })
    const roPost = (path: string, body: unknown) => ro.request(`${ORIGIN}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { host: '127.0.0.1:4567', 'content-type': 'application/json', origin: ORIGIN, ...auth } })
    const list = (await (await roGet('/api/snapshots')).json()) as { readOnly: boolean; snapshots: Array<{ id: string }> }
    assert.equal(list.readOnly, true)
    assert.deepEqual(list.snapshots.map((x) => x.id).sort(), [...s.snapshots].sort())
    const o = (await (await roGet('/api/overview')).json()) as { totals: { snapshots: number }; status: { snapshotsPerDevice: Record<string, number> } }
    assert.equal(o.totals.snapshots, 3)
    assert.deepEqual(o.status.snapshotsPerDevice, { laptop: 3 })
    assert.equal((await roGet(`/api/history?path=MEMORY.md`)).status, 200)
    assert.equal(await (await roGet(`/download/file?snapshot=${s.snapshots[1]}&path=MEMORY.md`)).text(), MEMORY_V2)
    for (const [path, body] of [
      ['/api/restore', { snapshot: s.snapshots[1], paths: ['MEMORY.md'], mode: 'in-place' }],
      ['/api/restore', { snapshot: s.snapshots[1], mode: 'staged' }],
      ['/api/restore/preview', { snapshot: s.snapshots[1] }],
      ['/api/undo', { id: 'restore-1' }],
      ['/api/jobs/job-1/cancel', {}],
    ] as const) {
      const r = await roPost(path, body)
      assert.equal(r.status, 403, path)
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'READ_ONLY', path)
    }
    assert.notEqual(readFileSync(join(s.ws, 'MEMORY.md'), 'utf8'), MEMORY_V2)
  })
})

describe('dashboard overview ratios', () => {
  it('shows dedup and compression ratios only from 1 MiB of raw bytes on', async () => {
    const s = await seededWorkspace(tempDir('dash-ratio'))
    try {
      const app = createDashboardApp({ sync: s.sync, token: TOKEN, origin: () => ORIGIN, assets }).app
      const totals = async () => ((await (await app.request(`${ORIGIN}/api/overview`, { headers: { host: '127.0.0.1:4567', [TOKEN_HEADER]: TOKEN } })).json()) as { totals: { logicalBytes: number; dedupRatio?: number; compressionRatio?: number } }).totals
      const small = await totals()
      assert.ok(small.logicalBytes < 1024 * 1024)
      assert.equal(small.dedupRatio, undefined)
      assert.equal(small.compressionRatio, undefined)
      // 1.5 MiB of text notes, synced twice (the second time unchanged but one line): now they mean something
      const lines = Array.from({ length: 24_000 }, (_, i) => `- note ${i}: the user mentioned topic ${i % 97}`).join('\n')
      writeFileSync(join(s.ws, 'memory', 'big.md'), lines)
      await s.sync.syncNow({ trigger: 'manual' })
      writeFileSync(join(s.ws, 'MEMORY.md'), `${MEMORY_V2}- one more line\n`)
      await s.sync.syncNow({ trigger: 'manual' })
      const big = await totals()
      assert.ok(big.logicalBytes >= 1024 * 1024, String(big.logicalBytes))
      assert.ok((big.dedupRatio ?? 0) > 1.5, String(big.dedupRatio))
      assert.ok((big.compressionRatio ?? 0) > 1.5, String(big.compressionRatio))
    } finally {
      await s.sync.close()
    }
  })
})
