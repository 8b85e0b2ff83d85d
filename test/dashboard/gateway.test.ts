// The dashboard's gateway mode: one-time tickets traded for a session cookie (replayed, expired,
// wrong and other agents' tickets refused), and the app's rules there (no Host rule, but a
// state-changing call's Origin must name the Host it was sent to; Secure cookies over https).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { COOKIE, createDashboardApp, TOKEN_HEADER } from '../../src/dashboard/index.js'
import { DashboardTickets } from '../../src/dashboard/gateway.js'
import type { Asset } from '../../src/dashboard/assets.js'
import { cleanup, tempDir } from '../helpers.js'
import { MEMORY_V3, seededWorkspace, type Seeded } from './support.js'

after(cleanup)

const assets = new Map<string, Asset>([
  ['index.html', { body: '<!doctype html><title>t</title>', type: 'text/html; charset=utf-8' }],
  ['app.js', { body: 'console.log(1)', type: 'text/javascript; charset=utf-8' }],
  ['app.css', { body: 'body{}', type: 'text/css; charset=utf-8' }],
])

describe('dashboard tickets', () => {
  it('a ticket opens one session, once: a replay is refused', () => {
    const t = new DashboardTickets()
    const ticket = t.issue('main')
    const session = t.redeem('main', ticket)
    assert.ok(session)
    assert.equal(t.valid('main', session), true)
    assert.equal(t.redeem('main', ticket), undefined, 'replayed')
    assert.equal(t.valid('main', session), true, 'the session stays')
  })

  it('an expired ticket is refused, and a session ends after its time', () => {
    const clock = { now: 1_000_000 }
    const t = new DashboardTickets({ now: () => clock.now, ticketMs: 60_000, sessionMs: 3_600_000 })
    const late = t.issue('main')
    clock.now += 60_001
    assert.equal(t.redeem('main', late), undefined)
    const session = t.redeem('main', t.issue('main'))!
    clock.now += 3_600_001
    assert.equal(t.valid('main', session), false)
  })

  it('a wrong ticket is refused, of any length, also one differing in its last character; another agent\'s too', () => {
    const t = new DashboardTickets()
    const ticket = t.issue('main')
    for (const wrong of [undefined, '', 'x', `${ticket}x`, ticket.slice(0, -1), `${ticket.slice(0, -1)}${ticket.endsWith('A') ? 'B' : 'A'}`, 'a'.repeat(10_000)]) {
      assert.equal(t.redeem('main', wrong), undefined, String(wrong).slice(0, 40))
    }
    const other = t.issue('main')
    assert.equal(t.redeem('work', other), undefined, 'a ticket for agent main does not open agent work')
    assert.equal(t.redeem('main', other), undefined, 'and it was spent by the try')
    // the wrong tries spent nothing: the first ticket still opens
    const session = t.redeem('main', ticket)
    assert.ok(session)
    assert.equal(t.valid('work', session), false, "a session of main is not one of work's")
    assert.equal(t.valid('main', `${session}x`), false)
  })

  it('compares a presented ticket with every live one by digest (no early exit on a mismatch)', () => {
    // The lookup's cost does not depend on where or whether the ticket matches: it hashes the
    // presented value and runs timingSafeEqual against every live ticket.
    const src = readFileSync(join(import.meta.dirname, '..', '..', 'src', 'dashboard', 'gateway.ts'), 'utf8')
    const find = src.slice(src.indexOf('function find('), src.indexOf('/** One-time tickets'))
    assert.match(find, /timingSafeEqual\(d, live\[i\]\.digest\)/)
    assert.doesNotMatch(find, /break|return i/)
  })
})

describe('dashboard app in gateway mode', () => {
  let s: Seeded
  let tickets: DashboardTickets
  let app: ReturnType<typeof createDashboardApp>['app']
  const MOUNT = '/session-sync-cloud/dashboard/main/'
  before(async () => {
    s = await seededWorkspace(tempDir('dash-gw'))
    tickets = new DashboardTickets()
    app = createDashboardApp({ sync: s.sync, auth: tickets.auth('main', MOUNT), assets }).app
  })
  after(() => s.sync.close())

  const open = async (base: string, host: string) => {
    const r = await app.request(`${base}/?ticket=${tickets.issue('main')}`, { headers: { host } })
    assert.equal(r.status, 303)
    assert.equal(r.headers.get('location'), './')
    const cookie = r.headers.get('set-cookie') ?? ''
    return { cookie, pair: cookie.split(';')[0], token: cookie.split(';')[0].split('=')[1] }
  }

  it('trades a ticket for a path-scoped SameSite=Strict HttpOnly cookie on any Host (the gateway may be bound beyond loopback)', async () => {
    const { cookie, pair } = await open('http://gw.tailnet.example:18789', 'gw.tailnet.example:18789')
    assert.match(cookie, new RegExp(`^${COOKIE}=`))
    assert.match(cookie, /HttpOnly/)
    assert.match(cookie, /SameSite=Strict/)
    assert.match(cookie, new RegExp(`Path=${MOUNT}`))
    assert.match(cookie, /Max-Age=\d+/)
    assert.doesNotMatch(cookie, /Secure/, 'plain http: no Secure flag (the browser would drop the cookie)')
    assert.equal((await app.request('http://gw.tailnet.example:18789/', { headers: { host: 'gw.tailnet.example:18789', cookie: pair } })).status, 200)
    assert.equal((await app.request('http://gw.tailnet.example:18789/', { headers: { host: 'gw.tailnet.example:18789' } })).status, 401)
    assert.equal((await app.request('http://gw.tailnet.example:18789/?ticket=nope', { headers: { host: 'gw.tailnet.example:18789' } })).status, 401)
  })

  it('sets the cookie Secure over https', async () => {
    const { cookie } = await open('https://gw.example', 'gw.example')
    assert.match(cookie, /; Secure/)
  })

  it('the page reads its token with the cookie; the API wants it as the header; the cookie alone opens downloads only', async () => {
    const host = '127.0.0.1:18789'
    const { pair, token } = await open(`http://${host}`, host)
    const session = await app.request(`http://${host}/session`, { headers: { host, cookie: pair } })
    assert.equal(session.status, 200)
    assert.equal(((await session.json()) as { token: string }).token, token)
    assert.equal((await app.request(`http://${host}/session`, { headers: { host } })).status, 401)
    assert.equal((await app.request(`http://${host}/api/overview`, { headers: { host, [TOKEN_HEADER]: token } })).status, 200)
    assert.equal((await app.request(`http://${host}/api/overview`, { headers: { host, cookie: pair } })).status, 401)
    assert.equal((await app.request(`http://${host}/api/overview`, { headers: { host } })).status, 401)
    assert.equal((await app.request(`http://${host}/download/file?snapshot=${s.snapshots[2]}&path=MEMORY.md`, { headers: { host, cookie: pair } })).status, 200)
  })

  it('refuses a state-changing call whose Origin is not the Host it was sent to', async () => {
    const host = 'gw.tailnet.example:18789'
    const { token } = await open(`http://${host}`, host)
    const body = JSON.stringify({ snapshot: s.snapshots[0], paths: ['MEMORY.md'], mode: 'in-place' })
    const post = (origin: string | undefined, extra: Record<string, string> = {}) =>
      app.request(`http://${host}/api/restore/preview`, { method: 'POST', body, headers: { host, 'content-type': 'application/json', [TOKEN_HEADER]: token, ...(origin ? { origin } : {}), ...extra } })
    assert.equal((await post('https://evil.example')).status, 403)
    assert.equal((await post('http://gw.tailnet.example:18790')).status, 403)
    assert.equal((await post('null')).status, 403)
    assert.equal((await post(undefined)).status, 403)
    assert.equal((await post(`http://${host}`, { 'sec-fetch-site': 'cross-site' })).status, 403)
    assert.equal((await post(`http://${host}`)).status, 200)
    assert.equal(readFileSync(join(s.ws, 'MEMORY.md'), 'utf8'), MEMORY_V3, 'a preview changes nothing')
  })
})

describe('the gateway route handler', () => {
  it('answers 404 to an agent path with malformed percent-encoding, and passes on paths outside its prefix', async () => {
    const { gatewayDashboardHandler } = await import('../../src/dashboard/gateway.js')
    const handler = gatewayDashboardHandler({ prefix: '/session-sync-cloud/dashboard', tickets: new DashboardTickets(), syncFor: () => undefined })
    const answer = async (url: string) => {
      let status = 0
      const res = { writeHead: (s: number) => ((status = s), res), end: () => res } as unknown as import('node:http').ServerResponse
      const handled = await handler({ url } as import('node:http').IncomingMessage, res)
      return { handled, status }
    }
    assert.deepEqual(await answer('/session-sync-cloud/dashboard/%E0%A4%A/'), { handled: true, status: 404 })
    assert.deepEqual(await answer('/session-sync-cloud/dashboard/main/'), { handled: true, status: 404 }, 'no sync for the agent')
    assert.deepEqual(await answer('/elsewhere'), { handled: false, status: 0 })
  })
})
