// The dashboard in a real browser: Debian's Chromium driven by playwright-core (no browser download).
// Runs once, in the Node 24 pass of npm test (like the OpenClaw host test), and is skipped with a
// message where Chromium is missing. SESSION_SYNC_SCREENSHOTS=<folder> saves the main pages as PNGs
// (docs/ holds the README's).
import assert from 'node:assert/strict'
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { unzipSync } from 'fflate'
import { chromium, type BrowserContext, type Locator, type Page, type Request } from 'playwright-core'
import { repositorySource, startDashboard, type DashboardHandle } from '../../src/dashboard/index.js'
import { DashboardTickets, dashboardLink, gatewayDashboardHandler } from '../../src/dashboard/gateway.js'
import { ObjectLockModel, WorkspaceSync, type Backend } from '../../src/index.js'
import { cleanup, tempDir } from '../helpers.js'
import { MEMORY_V2, MEMORY_V3, seededWorkspace, type Seeded } from './support.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const major = Number(process.versions.node.split('.')[0])
const skip =
  major < 24
    ? `runs once, in the Node 24 pass of npm test (this is Node ${process.versions.node})`
    : !existsSync(CHROMIUM)
      ? `no Chromium at ${CHROMIUM}: install it with "apt-get install -y --no-install-recommends chromium" (.ci/run does)`
      : false
const BULK = 20_000
/** The browser's requests not yet answered. */
const pending = new Set<Request>()

/**
 * Waits for `target`; when the page shows an error instead ([role=alert]), fails at once with it. A
 * wait that only times out says nothing of why the page never showed what it waits for.
 */
async function shown(target: Locator): Promise<Locator> {
  const alert = target.page().locator('[role=alert]')
  try {
    await target.or(alert).first().waitFor()
  } catch (e) {
    // A page that waits on an answer: which requests were still unanswered.
    const open = [...pending].map((r) => `${r.method()} ${r.url()}`)
    throw new Error(`${(e as Error).message}\nrequests unanswered: ${open.join(', ') || 'none'}; the page shows: ${(await target.page().locator('main').textContent().catch(() => '?'))?.slice(0, 500)}`, { cause: e })
  }
  if ((await target.count()) === 0) throw new Error(`the page shows an error instead of ${target}: ${(await alert.allTextContents()).join(' | ')}`)
  return target
}

after(cleanup)

describe('dashboard in Chromium', { skip, timeout: 10 * 60_000 }, () => {
  let s: Seeded
  let big: { ws: string; sync: WorkspaceSync; snapshot: string }
  let dash: DashboardHandle
  let bigDash: DashboardHandle
  let context: BrowserContext
  let page: Page
  const shots = process.env.SESSION_SYNC_SCREENSHOTS
  const shot = async (name: string, workspace = s.ws) => {
    if (!shots) return
    mkdirSync(shots, { recursive: true })
    // The pictures in docs/ show a user's usual workspace, not this test's temporary folder.
    await page.evaluate((ws) => {
      const d = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ textContent: string | null }> } }).document
      for (const el of d.querySelectorAll('[data-testid=cli]')) el.textContent = (el.textContent ?? '').split(ws).join('~/.openclaw/workspace')
    }, workspace)
    await page.screenshot({ path: join(shots, `dashboard-${name}.png`), fullPage: true })
  }

  const problems: Array<string | Promise<string>> = []
  afterEach(async (t) => {
    const seen = await Promise.all(problems.splice(0))
    if (seen.length > 0) console.log(`# in the page during "${t.name}":\n${seen.map((x) => `#   ${x}`).join('\n')}`)
  })

  before(async () => {
    assert.ok(existsSync(join(import.meta.dirname, '..', '..', 'dist', 'dashboard', 'app.js')), 'the front end is not built: run "npm run build" (npm test does)')
    s = await seededWorkspace(tempDir('dash-e2e'))
    // A workspace with 20,000 notes in one folder.
    const root = tempDir('dash-bulk')
    const ws = join(root, 'workspace')
    mkdirSync(join(ws, 'memory', 'bulk'), { recursive: true })
    writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n')
    for (let i = 0; i < BULK; i++) writeFileSync(join(ws, 'memory', 'bulk', `f${String(i).padStart(5, '0')}.md`), `note ${i}\n`)
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), debounce_seconds: 0, device: 'server' }))
    const sync = WorkspaceSync.create({ workspace: ws, env: { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root } })
    await sync.init()
    big = { ws, sync, snapshot: (await sync.syncNow({ trigger: 'manual' })).snapshot! }
    dash = await startDashboard({ sync: s.sync })
    bigDash = await startDashboard({ sync: big.sync })
    context = await chromium.launchPersistentContext(tempDir('chromium-profile'), { executablePath: CHROMIUM, args: ARGS, headless: true, acceptDownloads: true, viewport: { width: 1280, height: 900 } })
    // Waits, not timed assertions: on a loaded 2-core machine the 20,000-file pages took over 30 s.
    context.setDefaultTimeout(5 * 60_000)
    // What went wrong in the page, printed after each test: answers refused or failed, script errors.
    context.on('response', (r) => {
      if (r.status() < 400) return
      problems.push(r.text().then((t) => `${r.status()} ${r.request().method()} ${r.url()}: ${t.slice(0, 300)}`, () => `${r.status()} ${r.request().method()} ${r.url()}`))
    })
    context.on('request', (r) => pending.add(r))
    context.on('requestfinished', (r) => pending.delete(r))
    context.on('requestfailed', (r) => pending.delete(r))
    context.on('requestfailed', (r) => r.failure()?.errorText === 'net::ERR_ABORTED' || problems.push(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`))
    context.on('weberror', (e) => problems.push(`script error: ${e.error().stack ?? e.error().message}`))
    page = context.pages()[0] ?? (await context.newPage())
    await page.goto(dash.url)
  })
  after(async () => {
    await context?.close()
    await dash?.close()
    await bigDash?.close()
    await s?.sync.close()
    await big?.sync.close()
  })

  it('shows the overview with the repository\'s numbers, the chart, the 30-day strip and the shrink alarm', async () => {
    await page.goto(`${dash.origin}/#/overview`)
    await shown(page.locator('[data-testid=stored] .v'))
    const repo = await s.sync.repository()
    const snaps = await repo.snapshots({ tags: ['agent:main'] })
    const stored = snaps.reduce((n, x) => n + (x.summary?.bytesStored ?? 0), 0)
    assert.equal(Number(await page.locator('[data-testid=stored] .v').getAttribute('data-bytes')), stored)
    assert.equal(await page.locator('[data-testid=snapshot-count] [data-device=laptop]').getAttribute('data-count'), String(snaps.length))
    assert.equal(await page.locator('[data-testid=last-sync] .v').textContent(), 'ok')
    // one point per snapshot, the last one the sum of what they stored
    const points = page.locator('[data-testid=chart] circle.stored')
    assert.equal(await points.count(), snaps.length)
    assert.equal(Number(await points.last().getAttribute('data-bytes')), stored)
    const bars = await page.locator('[data-testid=chart] rect.changed').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-bytes'))))
    assert.deepEqual(bars, snaps.map((x) => x.summary?.bytesAdded ?? 0))
    assert.equal(await page.locator('[data-testid=strip] rect').count(), 30)
    const warnings = await page.locator('[data-testid=warning]').allTextContents()
    assert.ok(warnings.some((w) => /MEMORY\.md lost 67%/.test(w)), warnings.join('\n'))
    assert.equal(await page.locator('[data-testid=memory-timeline] li').count(), 3)
    // the token left the address bar at once
    assert.doesNotMatch(page.url(), /token=/)
    await shot('overview')
  })

  it('says when the snapshot list fails to load, and loads it again on "Try again"', async () => {
    // The list fails until the page has said so (a view opened later asks again by itself).
    let failing = true
    await page.route('**/api/snapshots', (route) =>
      failing ? route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: { code: 'STORAGE', message: 'the storage did not answer' } }) }) : route.continue(),
    )
    await page.goto(`${dash.url}#/snapshots`)
    const alert = page.locator('[role=alert]', { hasText: 'The snapshot list could not be loaded: the storage did not answer' })
    await alert.waitFor()
    assert.equal(await page.locator('[data-device=laptop] tr[data-snapshot]').count(), 0)
    failing = false
    await alert.getByRole('button', { name: 'Try again' }).click()
    await page.locator('[data-device=laptop] tr[data-snapshot]').first().waitFor()
    assert.equal(await page.locator('[data-device=laptop] tr[data-snapshot]').count(), (await (await s.sync.repository()).snapshots({ tags: ['agent:main'] })).length)
    assert.equal(await alert.count(), 0)
    await page.unroute('**/api/snapshots')
    problems.splice(0) // the refusals above were this test's own
  })

  it(`browses a ${BULK.toLocaleString('en')}-entry snapshot folder by folder, 500 entries at a time`, async () => {
    await page.goto(bigDash.url)
    await page.goto(`${bigDash.origin}/#/snapshots?snapshot=${big.snapshot}`)
    await (await shown(page.locator('[data-path=memory]'))).click() // the first answer loads the 20,000-file index
    await page.locator('[data-path="memory/bulk"]').click()
    const entries = page.locator('[data-folder="memory/bulk"] > li > span[data-type=file]')
    await shown(page.locator('[data-path="memory/bulk/f00499.md"]'))
    assert.equal(await entries.count(), 500)
    await page.locator('[data-folder="memory/bulk"] [data-testid=more]').click()
    await page.locator('[data-path="memory/bulk/f00999.md"]').waitFor()
    assert.equal(await entries.count(), 1000)
    await page.locator('[data-path="memory/bulk/f00742.md"]').click()
    await shown(page.locator('[data-testid=preview]'))
    assert.equal(await page.locator('[data-testid=preview]').textContent(), 'note 742\n')
    await shot('snapshots')
    await page.goto(dash.url) // back to the seeded workspace's dashboard (its cookie)
  })

  it('follows an address set before its first effects ran', async () => {
    // Effects run after a paint; here a paint never comes, so they wait for Preact's fallback timer
    // (35 ms). The page's module script has rendered by DOMContentLoaded, and the address changes
    // right then: the hashchange comes before anyone listens, and the page must still follow it (in
    // a loaded CI pass the page stayed on the overview, and the test waited 5 minutes).
    const tab = await context.newPage()
    try {
      tab.setDefaultTimeout(60_000)
      await tab.addInitScript(() => {
        const w = globalThis as unknown as { requestAnimationFrame: () => number; addEventListener(t: string, f: () => void): void; location: { hash: string } }
        w.requestAnimationFrame = () => 0
        w.addEventListener('DOMContentLoaded', () => {
          w.location.hash = '#/snapshots'
        })
      })
      await tab.goto(dash.url)
      await shown(tab.locator('[data-device=laptop] tr[data-snapshot]').first())
    } finally {
      await tab.close()
    }
  })

  it("shows a file's history with +/- lines and a diff per step, and a diff between two snapshots", async () => {
    await page.goto(`${dash.origin}/#/history?path=MEMORY.md`)
    const rows = page.locator('[data-testid=versions] tr[data-version]')
    await shown(rows.first())
    assert.equal(await rows.count(), 3)
    const newest = rows.first()
    assert.equal(await newest.getAttribute('data-version'), s.snapshots[2])
    assert.match((await newest.locator('td').nth(3).textContent()) ?? '', /\+1\s*−5/)
    await newest.getByRole('button', { name: 'diff' }).click()
    const patch = await page.locator('[data-testid=patch]').textContent()
    assert.match(patch ?? '', /-- the user learned Rust in December/)
    assert.match(patch ?? '', /\+- the user likes coffee/)
    await shot('history')

    await page.goto(`${dash.origin}/#/diff?from=${s.snapshots[0]}&to=${s.snapshots[1]}`)
    await shown(page.locator('[data-testid=diff]'))
    const text = (await page.locator('[data-testid=diff]').textContent()) ?? ''
    assert.match(text, /Added \(1\).*memory\/2026-12-02\.md/s)
    assert.match(text, /Changed \(1\).*MEMORY\.md/s)
    await page.locator('[data-testid=diff] a', { hasText: 'MEMORY.md' }).click()
    assert.match((await page.locator('[data-testid=patch]').textContent()) ?? '', /\+- the user learned Rust in December/)
  })

  it('searches every version of the memory files: when did it learn Rust?', async () => {
    await page.goto(`${dash.origin}/#/search`)
    await page.locator('[data-testid=search-input]').fill('rust')
    await page.getByRole('button', { name: 'Search' }).click()
    const hits = page.locator('[data-testid=hits] tbody tr')
    await shown(hits.first())
    assert.equal(await hits.count(), 2)
    const all = (await hits.allTextContents()).join('\n')
    assert.match(all, /MEMORY\.md:6.*the user learned Rust in December/)
    assert.match(all, /memory\/2026-12-02\.md:2/)
    await shot('search')
  })

  it('downloads a file and a folder (zip) with the same bytes as the snapshot', async () => {
    await page.goto(`${dash.origin}/#/snapshots?snapshot=${s.snapshots[1]}`)
    await page.locator('[data-path="MEMORY.md"]').click()
    const [file] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=download-file]').click()])
    assert.equal(file.suggestedFilename(), 'MEMORY.md')
    assert.equal(readFileSync(await file.path()).toString(), MEMORY_V2)

    await page.locator('[data-path="notes"]').click()
    const [zip] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=download-zip]').click()])
    const files = unzipSync(readFileSync(await zip.path()))
    assert.deepEqual(Object.keys(files), ['notes/photo.bin'])
    assert.deepEqual(Buffer.from(files['notes/photo.bin']), Buffer.from([0, 1, 2, 3, 255, 254, 0, 7]))

    await page.locator('[data-path="memory"]').click()
    const [zip2] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=download-zip]').click()])
    const mem = unzipSync(readFileSync(await zip2.path()))
    assert.deepEqual(Object.keys(mem).sort(), ['memory/2026-12-01.md', 'memory/2026-12-02.md'])
    assert.equal(Buffer.from(mem['memory/2026-12-01.md']).toString(), 'first day\n- met the user\n')
  })

  it('previews and runs an in-place restore of one file, then undoes it, checking the disk each time', async () => {
    const memory = join(s.ws, 'MEMORY.md')
    assert.equal(readFileSync(memory, 'utf8'), MEMORY_V3)
    await page.goto(`${dash.origin}/#/restore?snapshot=${s.snapshots[1]}&path=MEMORY.md`)
    await page.locator('[data-testid=preview-restore]').click()
    await shown(page.locator('[data-testid=restore-preview]'))
    assert.match((await page.locator('[data-testid=overwritten]').textContent()) ?? '', /Overwritten \(1\)MEMORY\.md/)
    assert.match((await page.locator('[data-testid=added]').textContent()) ?? '', /Added \(0\)/)
    assert.match((await page.locator('[data-testid=removed]').textContent()) ?? '', /Removed \(0\)/)
    assert.match((await page.locator('[data-testid=cli]').first().textContent()) ?? '', /session-sync sync restore --snapshot [0-9a-f]{8} --path MEMORY\.md --in-place/)
    assert.equal(readFileSync(memory, 'utf8'), MEMORY_V3, 'a preview changes nothing')
    await shot('restore-preview')

    await page.locator('[data-testid=restore-run]').click()
    await shown(page.locator('[data-testid=job][data-state=done]').first())
    assert.equal(readFileSync(memory, 'utf8'), MEMORY_V2)
    await shot('restore-done')

    await page.locator('[data-testid=undo]').click()
    await shown(page.locator('[data-testid=job][data-state=done]').nth(1))
    assert.equal(readFileSync(memory, 'utf8'), MEMORY_V3)

    // The restore's and the undo's safety snapshots are in the list without reloading the page.
    const stored = (await (await s.sync.repository()).snapshots({ tags: ['agent:main'] })).map((x) => x.id)
    assert.ok(stored.filter((id) => !s.snapshots.includes(id)).length >= 2, 'two safety snapshots were stored')
    await page.goto(`${dash.origin}/#/snapshots`)
    await page.waitForFunction((n) => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('tr[data-snapshot]').length === n, stored.length)
    for (const id of stored) assert.equal(await page.locator(`tr[data-snapshot="${id}"]`).count(), 1, id)
  })

  it('cancels a long restore, and the workspace is as it was', async () => {
    const changed = join(big.ws, 'memory', 'bulk', 'f00007.md')
    appendFileSync(changed, 'edited after the snapshot\n')
    const before = readFileSync(changed, 'utf8')
    await page.goto(bigDash.url)
    await page.goto(`${bigDash.origin}/#/restore?snapshot=${big.snapshot}&path=memory`)
    await page.locator('[data-testid=preview-restore]').click()
    await shown(page.locator('[data-testid=restore-preview]'))
    assert.match((await page.locator('[data-testid=overwritten]').textContent()) ?? '', /Overwritten \(1\)memory\/bulk\/f00007\.md/)
    await page.locator('[data-testid=restore-run]').click()
    // the progress bar moves with the sync layer's steps (a percentage, its step named)
    await page.waitForFunction(() => Number((globalThis as unknown as { document: { querySelector(s: string): { getAttribute(n: string): string | null } | null } }).document.querySelector('[data-testid=progress]')?.getAttribute('aria-valuenow')) > 0, undefined, { timeout: 5 * 60_000 })
    assert.match((await page.locator('[data-testid=progress]').textContent()) ?? '', /^\d+%$/)
    await shot('restore-progress', big.ws)
    await page.locator('[data-testid=cancel]').click()
    await page.locator('[data-testid=job][data-state=cancelled]').waitFor({ timeout: 5 * 60_000 })
    assert.equal(readFileSync(changed, 'utf8'), before)
    assert.equal(readdirSync(join(big.ws, 'memory', 'bulk')).length, BULK)
    await page.goto(dash.url)
  })

  it('refuses a foreign Host and a cross-origin POST from another page in the browser', async () => {
    // localhost instead of 127.0.0.1: the same socket, another Host (what DNS rebinding produces)
    const rebound = await page.goto(dash.url.replace('127.0.0.1', 'localhost'))
    assert.equal(rebound?.status(), 421)
    // another origin's page that knows the token still cannot restore: no CORS, the Origin is checked
    const other: Server = createServer((_, res) => res.end('<!doctype html><title>elsewhere</title>'))
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r))
    try {
      await page.goto(`http://127.0.0.1:${(other.address() as AddressInfo).port}/`)
      const outcome = await page.evaluate(
        async ({ origin, token, snapshot }) => {
          try {
            const r = await fetch(`${origin}/api/restore`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-session-sync-token': token }, body: JSON.stringify({ snapshot, paths: ['MEMORY.md'], mode: 'in-place' }) })
            return `status ${r.status}`
          } catch (e) {
            return `blocked: ${(e as Error).message}`
          }
        },
        { origin: dash.origin, token: dash.token, snapshot: s.snapshots[1] },
      )
      assert.match(outcome, /^blocked/)
      const simple = await page.evaluate(async ({ origin, snapshot }) => {
        try {
          await fetch(`${origin}/api/restore`, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ snapshot, paths: ['MEMORY.md'] }) })
          return 'sent'
        } catch (e) {
          return `blocked: ${(e as Error).message}`
        }
      }, { origin: dash.origin, snapshot: s.snapshots[1] })
      assert.ok(simple === 'sent' || simple.startsWith('blocked'))
      assert.equal(readFileSync(join(s.ws, 'MEMORY.md'), 'utf8'), MEMORY_V3)
    } finally {
      other.close()
    }
    await page.goto(dash.url)
  })

  it('read-only on a repository (no workspace): browses and downloads, shows no restore or undo', async () => {
    const ro = await startDashboard({ sync: repositorySource(await s.sync.repository()) })
    try {
      await page.goto(ro.url)
      await page.goto(`${ro.origin}/#/snapshots?snapshot=${s.snapshots[1]}`)
      await page.locator('[data-path="MEMORY.md"]').click()
      await page.locator('[data-testid=preview]').waitFor()
      assert.equal(await page.locator('[data-testid=preview]').textContent(), MEMORY_V2)
      assert.equal(await page.locator('[data-testid=download-file]').count(), 1)
      assert.equal(await page.locator('[data-testid=restore-open]').count(), 0)
      assert.equal(await page.locator('[data-testid=restore-snapshot]').count(), 0)
      assert.equal(await page.locator('nav a', { hasText: 'Restores' }).count(), 0)
      assert.match((await page.locator('header .who').textContent()) ?? '', /read-only/)
      await page.goto(`${ro.origin}/#/history?path=MEMORY.md`)
      await page.locator('[data-testid=versions] tr[data-version]').first().waitFor()
      assert.equal(await page.getByRole('button', { name: 'restore this version…' }).count(), 0)
      await page.goto(`${ro.origin}/#/restore?snapshot=${s.snapshots[1]}&path=MEMORY.md`)
      assert.match((await page.locator('[role=alert]').textContent()) ?? '', /nothing can be restored here/)
    } finally {
      await ro.close()
      await page.goto(dash.url)
    }
  })

  it('on a protected repository: the overview shows the protection, the unexplained delete marker and the suspicious snapshot; the snapshot list marks it with why', async () => {
    const root = tempDir('dash-e2e-protected')
    const ws = join(root, 'workspace')
    mkdirSync(ws, { recursive: true })
    writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- the user likes tea\n')
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), debounce_seconds: 0, protect: true, device: 'laptop' }))
    const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 37 } })
    const sync = WorkspaceSync.create({ workspace: ws, env: { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root, SESSION_SYNC_KEY: Buffer.alloc(32, 3).toString('base64') } })
    ;(sync as unknown as { backend: Backend }).backend = model.backend('writer')
    await sync.init()
    const real = await (await sync.repository()).findSnapshot((await sync.syncNow({ trigger: 'manual' })).snapshot!)
    const forged = await (await sync.repository()).saveSnapshot({ time: new Date(Date.now() - 20 * 86_400_000).toISOString(), host: real.host, user: real.user, paths: real.paths, tags: real.tags, tree: Buffer.from(real.tree, 'hex'), parents: [], excludes: [] })
    const index = [...model.objects.keys()].find((k) => k.startsWith('index/'))!
    await model.backend('deleter').remove({ type: 'index', name: index.slice('index/'.length) })
    await sync.checkVersions()
    const pd = await startDashboard({ sync })
    try {
      await page.goto(pd.url)
      await page.locator('[data-testid=protection][data-protected=true]').waitFor()
      assert.match((await page.locator('[data-testid=protection-mode]').textContent()) ?? '', /Object Lock: GOVERNANCE, 37 days/)
      assert.match((await page.locator('[data-testid=pruning]').textContent()) ?? '', /trusted device/)
      assert.equal(await page.locator('[data-testid=version-check]').getAttribute('data-found'), '1')
      assert.equal(await page.locator(`[data-testid=version-check] tr[data-event="${index}"]`).count(), 1)
      assert.match((await page.locator(`[data-testid=suspicious] li[data-snapshot="${forged}"]`).textContent()) ?? '', /20 days before the storage received it/)
      await page.goto(`${pd.origin}/#/snapshots`)
      const row = page.locator(`tr[data-snapshot="${forged}"]`)
      await row.waitFor()
      assert.match((await row.locator('[data-testid=suspicious-mark]').getAttribute('title')) ?? '', /forged or from a clock far off/)
      assert.equal(await page.locator(`tr[data-snapshot="${real.id}"] [data-testid=suspicious-mark]`).count(), 0)
    } finally {
      await pd.close()
      await sync.close()
      await page.goto(dash.url)
    }
  })

  it('on a gateway (a prefix, the one-time link): the ticket leaves the address bar, the cookie opens the page, the overview loads', async () => {
    const tickets = new DashboardTickets()
    const prefix = '/session-sync-cloud/dashboard'
    const handler = gatewayDashboardHandler({ prefix, tickets, syncFor: (agent) => (agent === 'main' ? s.sync : undefined) })
    const gw: Server = createServer(async (req, res) => {
      if (!(await handler(req, res))) res.writeHead(404).end()
    })
    await new Promise<void>((r) => gw.listen(0, '127.0.0.1', r))
    const p = await context.newPage()
    try {
      const origin = `http://127.0.0.1:${(gw.address() as AddressInfo).port}`
      const link = dashboardLink(prefix, 'main', tickets.issue('main'), origin)
      await p.goto(link)
      await p.locator('[data-testid=stored] .v').waitFor()
      assert.equal(p.url(), `${origin}${prefix}/main/`)
      assert.equal(await p.locator('[data-testid=last-sync] .v').textContent(), 'ok')
      const cookies = await context.cookies(`${origin}${prefix}/main/`)
      const c = cookies.find((x) => x.name === 'session_sync_dashboard')
      assert.ok(c, 'the session cookie')
      assert.equal(c.httpOnly, true)
      assert.equal(c.sameSite, 'Strict')
      assert.equal(c.path, `${prefix}/main/`)
      // the link opens once: another browser (no cookie) is refused with it
      assert.equal((await fetch(link, { redirect: 'manual' })).status, 401)
    } finally {
      await p.close()
      gw.close()
      gw.closeAllConnections()
    }
  })

  it('opens memory/sync-dashboard.html from disk with the network blocked: no script, no request, the chart inline', async () => {
    const requests: string[] = []
    const p = await context.newPage()
    await p.route('**/*', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()))
    p.on('request', (r) => requests.push(r.url()))
    const file = join(s.ws, 'memory', 'sync-dashboard.html')
    await p.goto(`file://${file}`)
    assert.deepEqual(requests, [`file://${file}`])
    assert.equal(await p.locator('script').count(), 0)
    // one point per sync that stored a snapshot: the three syncs, and the restore's and the undo's safety snapshots
    const stored = s.sync.log({ limit: 1000 }).filter((e) => e.kind === 'sync' && (e.result === 'ok' || e.result === 'warning') && e.snapshot)
    assert.equal(stored.length, 5)
    assert.equal(await p.locator('svg.chart circle.stored').count(), stored.length)
    assert.equal(await p.locator('svg.strip rect').count(), 30)
    assert.match((await p.locator('.alarm').first().textContent()) ?? '', /MEMORY\.md lost 67%/)
    const html = readFileSync(file, 'utf8')
    assert.equal(html.includes(dash.token), false)
    assert.equal(html.includes(s.sync.showKey()), false)
    if (shots) await p.screenshot({ path: join(shots, 'sync-dashboard-html.png'), fullPage: true })
    await p.close()
  })
})
