/**
 * The dashboard served by a gateway that is not ours (OpenClaw's): the same app, mounted below a
 * path prefix, one per agent (`<prefix>/<agent>/`). A browser cannot send the gateway's bearer
 * header when it opens a page, so the gateway's own auth is not used for the page; instead:
 *
 * - an authorised caller (the chat command, or a gateway-authenticated route) gets a one-time
 *   ticket for one agent, valid for a few minutes (`DashboardTickets.issue`);
 * - opening `<prefix>/<agent>/?ticket=…` redeems it (once; expired, replayed or wrong tickets are
 *   refused, the lookup compares every live ticket in constant time) for a session: a random token
 *   set as a `SameSite=Strict`, HttpOnly cookie scoped to `<prefix>/<agent>/` (Secure over https),
 *   then a redirect to the page without the ticket;
 * - the page reads its token with the cookie (GET session, same origin only: no CORS) and sends it
 *   as a header on every API call, as the standalone page does;
 * - the gateway may be reached by any name (a LAN or tailnet address): there is no Host rule, but
 *   state-changing calls must carry an Origin naming the Host they were sent to, JSON, and the
 *   header token, exactly as standalone.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { getRequestListener } from '@hono/node-server'
import type { WorkspaceSync } from '../sync/index.js'
import type { Asset } from './assets.js'
import { createDashboardApp, type DashboardAuth } from './server.js'

/** A ticket is good for this long after it was issued (it is meant to be clicked at once). */
export const TICKET_MS = 5 * 60_000
/** A session (the cookie) lasts this long; then a new ticket is needed. */
export const SESSION_MS = 12 * 3_600_000
/** At most this many live tickets and sessions each (the oldest go first). */
const MAX_LIVE = 64

const AGENT = /^[A-Za-z0-9_-]{1,64}$/

interface Live {
  digest: Buffer
  agent: string
  expires: number
}

const digest = (s: string) => createHash('sha256').update(s).digest()

/** Finds `presented` among `live` comparing it with every entry (no early exit, no length leak). */
function find(live: Live[], presented: string | undefined): number {
  const d = digest(presented ?? '')
  let hit = -1
  for (let i = 0; i < live.length; i++) if (timingSafeEqual(d, live[i].digest) && presented) hit = i
  return hit
}

/** One-time tickets and the sessions they open, per agent, in memory (a gateway restart ends them). */
export class DashboardTickets {
  private tickets: Live[] = []
  private sessions: Live[] = []
  private readonly now: () => number
  readonly ticketMs: number
  readonly sessionMs: number

  constructor(opts: { now?: () => number; ticketMs?: number; sessionMs?: number } = {}) {
    this.now = opts.now ?? Date.now
    this.ticketMs = opts.ticketMs ?? TICKET_MS
    this.sessionMs = opts.sessionMs ?? SESSION_MS
  }

  private prune(): void {
    const now = this.now()
    this.tickets = this.tickets.filter((t) => t.expires > now).slice(-MAX_LIVE)
    this.sessions = this.sessions.filter((t) => t.expires > now).slice(-MAX_LIVE)
  }

  /** A new one-time ticket opening `agent`'s dashboard. */
  issue(agent: string): string {
    this.prune()
    const ticket = randomBytes(24).toString('base64url')
    this.tickets.push({ digest: digest(ticket), agent, expires: this.now() + this.ticketMs })
    this.tickets = this.tickets.slice(-MAX_LIVE)
    return ticket
  }

  /** Redeems a ticket for `agent` once: a new session token, or undefined (wrong, used, expired, another agent's). */
  redeem(agent: string, ticket: string | undefined): string | undefined {
    this.prune()
    const i = find(this.tickets, ticket)
    if (i < 0) return undefined
    const t = this.tickets[i]
    this.tickets.splice(i, 1) // used: a replay finds nothing
    if (t.agent !== agent) return undefined
    const token = randomBytes(24).toString('base64url')
    this.sessions.push({ digest: digest(token), agent, expires: this.now() + this.sessionMs })
    this.sessions = this.sessions.slice(-MAX_LIVE)
    return token
  }

  /** Whether `token` is a live session of `agent`. */
  valid(agent: string, token: string | undefined): boolean {
    this.prune()
    const i = find(this.sessions, token)
    return i >= 0 && this.sessions[i].agent === agent
  }

  /** The auth rules of one agent's app mounted at `mount` (ending in `/`). */
  auth(agent: string, mount: string): DashboardAuth {
    return {
      valid: (token) => this.valid(agent, token),
      open: (query) => {
        const ticket = query('ticket')
        if (ticket === undefined) return undefined
        const token = this.redeem(agent, ticket)
        return token ? { token, redirect: true } : undefined
      },
      cookiePath: mount,
      cookieMaxAge: Math.floor(this.sessionMs / 1000),
      refusal: 'this dashboard link was used already, has expired or is wrong: ask for a new one with /sync_dashboard',
    }
  }
}

export interface GatewayDashboardOptions {
  /** The route's path prefix, without a trailing slash, e.g. `/session-sync-cloud/dashboard`. */
  prefix: string
  tickets: DashboardTickets
  /** The agent's sync, or undefined if it has none (the request gets 404). */
  syncFor(agent: string): WorkspaceSync | undefined
  assets?: Map<string, Asset>
}

/** The path of `agent`'s dashboard, and the one-time link to it (`base`: the gateway's origin). */
export function dashboardLink(prefix: string, agent: string, ticket: string, base = ''): string {
  return `${base}${prefix}/${encodeURIComponent(agent)}/?ticket=${ticket}`
}

/**
 * A Node request handler for the gateway's route: finds the agent in the path, strips the prefix
 * and hands the request to that agent's app. Returns false for paths outside the prefix.
 */
export function gatewayDashboardHandler(opts: GatewayDashboardOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const apps = new Map<string, { sync: WorkspaceSync; listener: ReturnType<typeof getRequestListener> }>()
  return async (req, res) => {
    const url = req.url ?? ''
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const query = q < 0 ? '' : url.slice(q)
    if (!path.startsWith(`${opts.prefix}/`)) return false
    const rest = path.slice(opts.prefix.length + 1)
    const slash = rest.indexOf('/')
    let agent: string
    try {
      agent = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash))
    } catch {
      agent = '' // malformed percent-encoding: no such agent
    }
    const send = (status: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers })
      res.end(text)
      return true
    }
    if (!AGENT.test(agent)) return send(404, 'no such agent')
    // The page's relative URLs need the trailing slash.
    if (slash < 0) return send(308, '', { Location: `${opts.prefix}/${encodeURIComponent(agent)}/${query}` })
    const sync = opts.syncFor(agent)
    if (!sync) return send(404, `agent ${agent} has no backup configured`)
    let entry = apps.get(agent)
    if (!entry || entry.sync !== sync) {
      const mount = `${opts.prefix}/${encodeURIComponent(agent)}/`
      const { app } = createDashboardApp({ sync, auth: opts.tickets.auth(agent, mount), assets: opts.assets })
      // overrideGlobalObjects: false: the gateway's own Request and Response stay as they are.
      entry = { sync, listener: getRequestListener(app.fetch, { overrideGlobalObjects: false }) }
      apps.set(agent, entry)
    }
    req.url = `${rest.slice(slash)}${query}`
    await entry.listener(req, res)
    return true
  }
}
