/**
 * The dashboard's HTTP app (Hono): the built page and its assets from a fixed table, and a JSON API
 * over DashboardModel and the sync layer's restore and undo.
 *
 * Security rules (standalone, on 127.0.0.1; the gateway mode's differences are in gateway.ts and
 * docs/SECURITY.md):
 * - the Host header must be the exact loopback origin served (no DNS rebinding);
 * - every /api call carries the token in the `x-session-sync-token` header, compared in constant
 *   time; downloads (which a browser cannot send headers with) accept the `SameSite=Strict`,
 *   HttpOnly cookie that opening the page with `?token=` sets;
 * - state-changing calls are POSTs with a JSON body whose Origin is our own origin;
 * - no CORS headers; a strict Content-Security-Policy; assets come from a fixed in-memory table;
 * - request paths are only looked up by name in the stored trees or handed to the sync layer's
 *   restore, which keeps every write inside the workspace or its staging folder;
 * - nothing secret is sent: the status without the workspace path's secrets, never the config;
 * - read-only (a bare repository, no workspace): every state-changing call is refused (READ_ONLY).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { Hono, type Context } from 'hono'
import { InvalidOptionsError, type Snapshot } from '../library.js'
import { errorOf, pathParts, type RestoreResult, type RestoreStepProgress } from '../sync/index.js'
import type { DashboardSource } from './source.js'
import { dashboardAssets, type Asset } from './assets.js'
import { DashboardModel } from './model.js'

export const TOKEN_HEADER = 'x-session-sync-token'
export const COOKIE = 'session_sync_dashboard'

/**
 * Who may use the app. Standalone (`tokenAuth`): one token, printed in the URL, and the loopback
 * origin the Host header must match. In the gateway (gateway.ts): one-time tickets exchanged for
 * sessions, and no Host rule (the gateway may be reached by any name it is bound to).
 */
export interface DashboardAuth {
  /** Standalone: the origin served, which the Host header must match. Gateway: none (Origin must match Host). */
  origin?: () => string
  /** Whether a presented token (header or cookie) is valid, in constant time. */
  valid(token: string | undefined): boolean
  /**
   * Opening the page with a credential in the query: the token the cookie is set to, and whether
   * to redirect to the page without the credential (a one-time ticket), or undefined if it is not valid.
   */
  open(query: (name: string) => string | undefined): { token: string; redirect: boolean } | undefined
  /** The cookie's Path (the app's mount point). */
  cookiePath: string
  /** The cookie's name (default COOKIE). Cookies do not tell ports apart: two dashboards on one host need two names. */
  cookieName?: () => string
  /** The cookie's Max-Age in seconds (default: a session cookie). */
  cookieMaxAge?: number
  /** Why the page was refused, for the 401 answer. */
  refusal: string
}

/** The standalone rules: the printed token, on the loopback origin `origin()`. */
export function tokenAuth(token: string, origin: () => string): DashboardAuth {
  return {
    origin,
    valid: (t) => tokenMatches(t, token),
    open: (query) => (tokenMatches(query('token'), token) ? { token, redirect: false } : undefined),
    cookiePath: '/',
    cookieName: () => cookieName(origin()),
    refusal: 'open the dashboard by the URL "session-sync dashboard" printed (it carries the token)',
  }
}

export interface DashboardAppOptions {
  /** An agent's WorkspaceSync, or a repository without a workspace (read-only): source.ts. */
  sync: DashboardSource
  /** Standalone: the token (with `origin`); or `auth` for other rules. */
  token?: string
  /** The origin served, `http://127.0.0.1:PORT` (a function: the port is known once listening). */
  origin?: () => string
  auth?: DashboardAuth
  /** The built page and assets (default: those built into the package). */
  assets?: Map<string, Asset>
}

export interface RestoreJob {
  id: string
  kind: 'restore' | 'undo'
  state: 'running' | 'done' | 'failed' | 'cancelled'
  started: string
  request: { snapshot?: string; paths?: string[]; mode: string; undo?: string }
  /** How far it is: the sync layer's step and an overall percentage. */
  progress?: { step: RestoreStepProgress['step']; done: number; total: number; percent: number }
  result?: RestoreResult
  error?: { code: string; message: string }
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

const digest = (s: string) => createHash('sha256').update(s).digest()

/** Constant-time comparison of a presented token with ours (hashed first, so lengths match). */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (!presented) return false
  return timingSafeEqual(digest(presented), digest(token))
}

export function newToken(): string {
  return randomBytes(24).toString('base64url')
}

/** The standalone cookie's name: one per port, so that two dashboards on one host keep theirs. */
export function cookieName(origin: string): string {
  return `${COOKIE}_${new URL(origin).port || 'default'}`
}

/** Every value of the cookie `name` (a cookie of a wider Path may come along with ours). */
function cookiesOf(header: string | undefined, name: string): string[] {
  const out: string[] = []
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) out.push(v.join('='))
  }
  return out
}

export function createDashboardApp(opts: DashboardAppOptions): { app: Hono; model: DashboardModel; jobs: Map<string, RestoreJob> } {
  const auth = opts.auth ?? tokenAuth(opts.token ?? '', opts.origin ?? (() => ''))
  if (!opts.auth && (!opts.token || !opts.origin)) throw new InvalidOptionsError('the dashboard needs a token and its origin')
  const model = new DashboardModel(opts.sync)
  const assets = opts.assets ?? dashboardAssets()
  const jobs = new Map<string, RestoreJob>()
  const controllers = new Map<string, AbortController>()
  const app = new Hono()

  app.use('*', async (c, next) => {
    if (auth.origin) {
      const host = c.req.header('host')
      if (host !== new URL(auth.origin()).host) return c.text('wrong Host: open the dashboard by the URL it printed', 421)
    }
    await next()
    c.header('Content-Security-Policy', CSP)
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Referrer-Policy', 'no-referrer')
    c.header('X-Frame-Options', 'DENY')
    c.header('Cache-Control', 'no-store')
  })

  const setCookie = (c: Context, token: string) => {
    const secure = new URL(c.req.url).protocol === 'https:' ? '; Secure' : ''
    const age = auth.cookieMaxAge !== undefined ? `; Max-Age=${auth.cookieMaxAge}` : ''
    c.header('Set-Cookie', `${auth.cookieName?.() ?? COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=${auth.cookiePath}${age}${secure}`)
  }
  const fromCookie = (c: Context) => cookiesOf(c.req.header('cookie'), auth.cookieName?.() ?? COOKIE).find((t) => auth.valid(t))
  const page = (c: Context) => {
    const opened = auth.open((name) => c.req.query(name))
    if (!opened && !fromCookie(c)) return c.text(auth.refusal, 401)
    if (opened) setCookie(c, opened.token)
    // A one-time credential leaves the address bar (and the history) at once.
    if (opened?.redirect) return c.body(null, 303, { Location: './' })
    const html = assets.get('index.html')
    if (!html) return c.text('the dashboard was not built into this package (npm run build)', 500)
    return c.body(html.body, 200, { 'Content-Type': html.type })
  }
  app.get('/', page)
  app.get('/index.html', page)
  for (const name of ['app.js', 'app.css']) {
    app.get(`/${name}`, (c) => {
      const a = assets.get(name)
      if (!a) return c.text('not built', 404)
      return c.body(a.body, 200, { 'Content-Type': a.type })
    })
  }

  // The page's token when it was opened without one in its URL (the gateway's ticket): read with the
  // cookie, by a same-origin script only (no CORS), then sent as the header like the printed token.
  app.get('/session', (c) => {
    const token = fromCookie(c)
    return token ? c.json({ token }) : c.json({ error: { code: 'UNAUTHORIZED', message: auth.refusal } }, 401)
  })

  /** A state-changing call's Origin: the origin served (standalone), else the one its Host names. */
  const ownOrigin = (c: Context, origin: string | undefined): boolean => {
    if (!origin) return false
    if (auth.origin) return origin === auth.origin()
    try {
      return new URL(origin).host === c.req.header('host')
    } catch {
      return false
    }
  }

  // ---- the API: the token in a header; POSTs JSON from our origin ------------------------------
  app.use('/api/*', async (c, next) => {
    if (!auth.valid(c.req.header(TOKEN_HEADER))) return c.json({ error: { code: 'UNAUTHORIZED', message: 'the token is missing or wrong: open the dashboard by the URL it printed' } }, 401)
    if (c.req.method !== 'GET') {
      if (c.req.method !== 'POST') return c.json({ error: { code: 'METHOD', message: 'GET or POST only' } }, 405)
      if (!ownOrigin(c, c.req.header('origin'))) return c.json({ error: { code: 'FORBIDDEN_ORIGIN', message: 'state-changing calls come from the dashboard page only' } }, 403)
      if (!(c.req.header('content-type') ?? '').startsWith('application/json')) return c.json({ error: { code: 'JSON_ONLY', message: 'send a JSON body' } }, 415)
      const site = c.req.header('sec-fetch-site')
      if (site && site !== 'same-origin') return c.json({ error: { code: 'FORBIDDEN_ORIGIN', message: 'state-changing calls come from the dashboard page only' } }, 403)
      if (opts.sync.readOnly) return c.json({ error: { code: 'READ_ONLY', message: 'the dashboard was opened on a repository without a workspace: nothing can be restored in it; restore with "session-sync restore <snapshot> --target <folder>", or download' } }, 403)
    }
    await next()
  })
  app.use('/download/*', async (c, next) => {
    const ok = auth.valid(c.req.header(TOKEN_HEADER)) || fromCookie(c) !== undefined
    if (!ok) return c.text('the download needs the dashboard open in this browser (its cookie) or the token header', 401)
    await next()
  })
  app.onError((e, c) => {
    const err = errorOf(e)
    const status = err.code === 'INVALID_OPTIONS' || err.code === 'SNAPSHOT_NOT_FOUND' || err.code === 'RESTORE_NOT_FOUND' ? 400 : err.code === 'READ_ONLY' ? 403 : 500
    return c.json({ error: err }, status)
  })

  const q = (c: Context, name: string, fallback?: string): string => {
    const v = c.req.query(name) ?? fallback
    if (v === undefined) throw new InvalidOptionsError(`the query needs ${name}`)
    return v
  }

  app.get('/api/overview', async (c) => c.json(await model.overview()))
  app.get('/api/snapshots', async (c) => c.json({ snapshots: await model.snapshotList(), workspace: opts.sync.workspace, agent: opts.sync.agent, device: opts.sync.device, readOnly: opts.sync.readOnly === true }))
  app.get('/api/folder', async (c) => c.json(await model.folder(q(c, 'snapshot'), q(c, 'path', ''))))
  app.get('/api/preview', async (c) => c.json(await model.preview(q(c, 'snapshot'), q(c, 'path'))))
  app.get('/api/history', async (c) => c.json({ path: q(c, 'path'), versions: await model.history(q(c, 'path')) }))
  app.get('/api/diff', async (c) => c.json(await model.diff(q(c, 'from'), q(c, 'to'))))
  app.get('/api/filediff', async (c) => c.json(await model.fileDiff(q(c, 'from'), q(c, 'to'), q(c, 'path'))))
  app.get('/api/forgotten', async (c) => c.json(await model.forgotten(q(c, 'from'), q(c, 'to'))))
  app.get('/api/search', async (c) => c.json(await model.search(q(c, 'q'))))
  app.get('/api/restores', (c) => c.json({ restores: opts.sync.restores() }))

  app.get('/download/file', async (c) => {
    const f = await model.file(q(c, 'snapshot'), q(c, 'path'))
    return c.body(new Uint8Array(f.bytes), 200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': disposition(f.name) })
  })
  app.get('/download/zip', async (c) => {
    const z = await model.zip(q(c, 'snapshot'), q(c, 'path', ''))
    return c.body(z.bytes as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': 'application/zip', 'Content-Disposition': disposition(z.name) })
  })

  /** Reads a JSON body's snapshot and paths, checking every path before the sync layer sees it. */
  const restoreInput = async (c: Context) => {
    const body = (await c.req.json().catch(() => ({}))) as { snapshot?: unknown; paths?: unknown; mode?: unknown; id?: unknown }
    const snapshot = typeof body.snapshot === 'string' ? await model.snapshot(body.snapshot) : undefined
    const paths = Array.isArray(body.paths) ? body.paths.map((p) => (typeof p === 'string' ? pathParts(p).join('/') : '')).filter((p) => p !== '') : undefined
    if (Array.isArray(body.paths) && paths!.length !== body.paths.length) throw new InvalidOptionsError('paths must be files or folders inside the workspace')
    return { snapshot, paths: paths && paths.length > 0 ? paths : undefined, mode: body.mode, id: body.id }
  }
  // By the snapshot's id: exactly the one chosen, even when another shares its time.
  const restoreOf = (snapshot: Snapshot, paths: string[] | undefined, inPlace: boolean, signal?: AbortSignal, onProgress?: (p: RestoreStepProgress) => void) =>
    opts.sync.restore({ snapshot: snapshot.id, paths, inPlace, signal, onProgress })

  // POST routes are declared with app.on('POST', …): the plugin bundle carries this app, and OpenClaw's
  // install-time scanner takes a literal `.post(` next to a file read for a network send.
  // A preview is a staged restore: exactly what an in-place restore would overwrite, add, remove and leave.
  app.on('POST', '/api/restore/preview', async (c) => {
    const r = await restoreInput(c)
    if (!r.snapshot) throw new InvalidOptionsError('name the snapshot')
    return c.json(await restoreOf(r.snapshot, r.paths, false))
  })

  const startJob = (kind: RestoreJob['kind'], request: RestoreJob['request'], run: (signal: AbortSignal, onProgress: (p: RestoreStepProgress) => void) => Promise<RestoreResult>): RestoreJob => {
    const job: RestoreJob = { id: `job-${randomBytes(6).toString('hex')}`, kind, state: 'running', started: new Date().toISOString(), request, progress: { step: 'fetch', done: 0, total: 0, percent: 0 } }
    const controller = new AbortController()
    jobs.set(job.id, job)
    controllers.set(job.id, controller)
    const inPlace = request.mode === 'in-place'
    run(controller.signal, (p) => (job.progress = { ...p, percent: percentOf(p, inPlace) }))
      .then((result) => {
        job.result = result
        job.state = 'done'
        job.progress = { step: 'apply', done: 1, total: 1, percent: 100 }
      })
      .catch((e) => {
        job.error = errorOf(e)
        job.state = controller.signal.aborted ? 'cancelled' : 'failed'
      })
      .finally(() => controllers.delete(job.id))
    return job
  }

  app.on('POST', '/api/restore', async (c) => {
    const r = await restoreInput(c)
    if (!r.snapshot) throw new InvalidOptionsError('name the snapshot')
    const mode = r.mode === 'staged' ? 'staged' : 'in-place'
    const snap = r.snapshot
    return c.json(startJob('restore', { snapshot: snap.id, paths: r.paths, mode }, (signal, onProgress) => restoreOf(snap, r.paths, mode === 'in-place', signal, onProgress)))
  })
  app.on('POST', '/api/undo', async (c) => {
    const r = await restoreInput(c)
    if (typeof r.id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(r.id)) throw new InvalidOptionsError('name the restore to undo')
    const id = r.id
    return c.json(startJob('undo', { undo: id, mode: 'in-place' }, (signal, onProgress) => opts.sync.undo(id, { signal, onProgress })))
  })
  app.get('/api/jobs/:id', (c) => {
    const job = jobs.get(c.req.param('id'))
    return job ? c.json(job) : c.json({ error: { code: 'NOT_FOUND', message: 'no such job' } }, 404)
  })
  app.on('POST', '/api/jobs/:id/cancel', (c) => {
    const controller = controllers.get(c.req.param('id'))
    controller?.abort()
    return c.json({ cancelled: controller !== undefined })
  })

  return { app, model, jobs }
}

/** Where each step of a restore lies in the whole, in percent: [start, end). */
const SPANS: Record<'in-place' | 'staged', Record<RestoreStepProgress['step'], [number, number]>> = {
  'in-place': { safety: [0, 10], fetch: [10, 70], compare: [70, 75], apply: [75, 100] },
  staged: { safety: [0, 0], fetch: [0, 90], compare: [90, 100], apply: [100, 100] },
}

/** A restore's overall progress from its step's. */
export function percentOf(p: RestoreStepProgress, inPlace: boolean): number {
  const [a, b] = SPANS[inPlace ? 'in-place' : 'staged'][p.step]
  const f = p.total > 0 ? Math.min(1, p.done / p.total) : 0
  return Math.floor(a + (b - a) * f)
}

function disposition(name: string): string {
  const ascii = name.replace(/[^A-Za-z0-9._-]/g, '_')
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`
}
