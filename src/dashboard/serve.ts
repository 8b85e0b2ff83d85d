/** Serves the dashboard app on 127.0.0.1 (Node's http through @hono/node-server). */
import { serve } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import type { DashboardSource } from './source.js'
import { createDashboardApp, newToken } from './server.js'

export interface DashboardHandle {
  /** The URL to open, with the token. */
  url: string
  origin: string
  token: string
  close(): Promise<void>
}

export async function startDashboard(opts: { sync: DashboardSource; port?: number; token?: string }): Promise<DashboardHandle> {
  const token = opts.token ?? newToken()
  let origin = ''
  const { app } = createDashboardApp({ sync: opts.sync, token, origin: () => origin })
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: opts.port ?? 0 }, () => resolve(s))
    s.once('error', reject)
  })
  const port = (server.address() as AddressInfo).port
  origin = `http://127.0.0.1:${port}`
  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
      }),
  }
}
