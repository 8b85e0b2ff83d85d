/**
 * The dashboard on the gateway: the route that serves it (plugin auth: a browser cannot send the
 * gateway's bearer header, so the dashboard checks its own one-time tickets and session cookies,
 * src/dashboard/gateway.ts), the /sync_dashboard command that hands out a link, and a
 * gateway-authenticated route that does the same for scripts holding the gateway's token.
 */
import { DashboardTickets, dashboardLink, gatewayDashboardHandler } from '../dashboard/gateway.js'
import type { WorkspaceSync } from '../index.js'
import type { HostApi } from './host.js'

export const DASHBOARD_COMMAND = 'sync_dashboard'
/** Below this prefix: `<agent>/` is that agent's dashboard. */
export const DASHBOARD_PREFIX = '/session-sync-cloud/dashboard'
/** GET with the gateway's auth: `{ url, path, expiresAt }` of a one-time link (`?agent=` picks the agent). */
export const DASHBOARD_LINK_PATH = '/session-sync-cloud/dashboard-link'

const DEFAULT_PORT = 18789

/** The gateway's loopback origin from its config (the port as the gateway resolves it). */
function loopbackOrigin(config: unknown): string {
  const gw = ((config as { gateway?: { port?: unknown; tls?: { enabled?: unknown } } } | undefined)?.gateway ?? {})
  const port = Number(process.env.OPENCLAW_GATEWAY_PORT) || (typeof gw.port === 'number' ? gw.port : DEFAULT_PORT)
  return `${gw.tls?.enabled === true ? 'https' : 'http'}://127.0.0.1:${port}`
}

export function registerDashboard(api: HostApi, syncFor: (agentId: string | undefined) => WorkspaceSync | undefined, tickets = new DashboardTickets()): void {
  const minutes = Math.round(tickets.ticketMs / 60_000)
  const sync = (agent: string | undefined): WorkspaceSync | undefined => {
    try {
      const s = syncFor(agent)
      return s?.configured ? s : undefined
    } catch {
      return undefined
    }
  }

  api.registerHttpRoute({
    path: DASHBOARD_PREFIX,
    auth: 'plugin',
    match: 'prefix',
    handler: gatewayDashboardHandler({ prefix: DASHBOARD_PREFIX, tickets, syncFor: (agent) => sync(agent) }),
  })

  api.registerHttpRoute({
    path: DASHBOARD_LINK_PATH,
    auth: 'gateway',
    match: 'exact',
    handler(req, res) {
      const url = new URL(req.url ?? '/', 'http://gateway')
      const agent = url.searchParams.get('agent') ?? 'main'
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' })
        res.end(JSON.stringify(body))
        return true
      }
      if (req.method !== 'GET') return send(405, { error: { code: 'METHOD', message: 'GET only' } })
      if (!sync(agent)) return send(404, { error: { code: 'NOT_CONFIGURED', message: `agent ${agent} has no backup configured` } })
      const ticket = tickets.issue(agent)
      const proto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'
      const path = dashboardLink(DASHBOARD_PREFIX, agent, ticket)
      return send(200, { url: `${proto}://${req.headers.host}${path}`, path, expiresAt: new Date(Date.now() + tickets.ticketMs).toISOString() })
    },
  })

  api.registerCommand({
    name: DASHBOARD_COMMAND,
    description: "Open this agent's backup dashboard (session-sync-cloud): a one-time link.",
    acceptsArgs: false,
    requireAuth: true,
    async handler(ctx) {
      const agent = ctx.agentId ?? 'main'
      if (!sync(agent)) return { text: 'session-sync-cloud: the dashboard runs only inside the gateway, for an agent with a backup configured.' }
      const ticket = tickets.issue(agent)
      return {
        text: `Dashboard of agent ${agent} (a one-time link, valid for ${minutes} minutes): ${dashboardLink(DASHBOARD_PREFIX, agent, ticket, loopbackOrigin(ctx.config))}\nOn another machine, open the same path on the address you reach the gateway by.`,
      }
    },
  })
}
