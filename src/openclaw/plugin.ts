/**
 * The OpenClaw plugin: registers the tools, the schedule (a service), the hooks and /sync_now on
 * the host's plugin API. Everything it does goes through WorkspaceSync (one per agent: agents.ts);
 * it only parses what the host hands over and formats what the sync returns.
 *
 * Storage is opened only when the plugin runs inside the gateway (registrationMode "full"): only
 * there are the plugin config's secrets resolved. Other loads in the gateway's process (an agent
 * turn's tools) use the gateway's load; `openclaw plugins inspect` and other loads outside it see
 * unresolved references, and get tools that say so (naming their load mode) instead of opening
 * anything.
 */
import { join } from 'node:path'
import { errorOf, type WorkspaceSync } from '../index.js'
import { AgentSyncs, DEFAULT_AGENT } from './agents.js'
import { registerDashboard } from './dashboard.js'
import { syncEnvironment } from './env.js'
import type { ApprovalRequest, HostApi, HostLogger, HostServiceContext, HostToolContext } from './host.js'
import { createTools, OPTIONAL_TOOLS, REQUIRED_TOOLS, type ToolHost } from './tools.js'
import { DelayedTriggers, WRAP_UP } from './triggers.js'

export const PLUGIN_ID = 'session-sync-cloud'
export const SERVICE_ID = 'session-sync-cloud-schedule'
export const COMMAND_NAME = 'sync_now'

/** What the entry gets from the host's SDK at run time (injected, so tests need no host). */
export interface HostSdk {
  listAgentIds(cfg: never): string[]
}

/** How often the schedule looks at the sync logs for repeated failures. */
const HEALTH_CHECK_MS = 60_000

export function registerSessionSync(api: HostApi, sdk: HostSdk, opts: { settleMs?: number; pollMs?: number; healthCheckMs?: number } = {}): void {
  const inGateway = api.registrationMode === 'full'
  let hostStateDir: string | undefined
  const syncs = new AgentSyncs(
    api,
    () => syncEnvironment(hostStateDir ?? safeStateDir(api)),
    (agentId) => agentDatabase(hostStateDir ?? safeStateDir(api), agentId),
  )
  const delayed = new DelayedTriggers(opts)

  /** The agent's sync, or undefined outside the gateway; config errors are thrown to the caller. */
  const syncFor = (agentId: string | undefined, workspace?: string): WorkspaceSync | undefined => (inGateway ? syncs.get(agentId ?? DEFAULT_AGENT, workspace) : undefined)
  /** For hooks: the agent's sync when it is configured and enabled; problems are logged, never thrown. */
  const hookSync = (ctx: { agentId?: string; workspaceDir?: string }): WorkspaceSync | undefined => {
    if (stopped) return undefined // the gateway is stopping: nothing new is queued
    try {
      const sync = syncFor(ctx.agentId, ctx.workspaceDir)
      return sync?.configured && sync.config.enabled ? sync : undefined
    } catch (e) {
      api.logger.warn(`session-sync-cloud: ${errorOf(e).message}`)
      return undefined
    }
  }

  const ownTools: ToolHost = { syncFor: (ctx) => syncFor(ctx.agentId, ctx.workspaceDir), ready: (sync) => syncs.ready(sync), loadMode: api.registrationMode }
  if (inGateway) shareGatewayTools(ownTools)
  // Another load of the plugin in the gateway's process (an agent turn's tools) uses the gateway's.
  const toolHost: ToolHost = inGateway
    ? ownTools
    : { syncFor: (ctx) => gatewayTools()?.syncFor(ctx), ready: (sync) => (gatewayTools() ?? ownTools).ready(sync), loadMode: api.registrationMode }
  const pick = (names: readonly string[]) => (ctx: HostToolContext) => createTools(toolHost, ctx).filter((t) => names.includes(t.name))
  api.registerTool(pick(REQUIRED_TOOLS), { names: [...REQUIRED_TOOLS] })
  api.registerTool(pick(OPTIONAL_TOOLS), { names: [...OPTIONAL_TOOLS], optional: true })

  // In-place restores and undos overwrite the workspace: the user says yes first.
  api.on('before_tool_call', (event): ApprovalRequest | undefined => {
    if (event.toolName === 'sync_restore' && event.params?.in_place === true) {
      return { requireApproval: { title: 'Restore memory in place', description: `Overwrite the workspace's memory files with the snapshot at "${String(event.params.timestamp)}"? A safety snapshot is taken first; sync_undo puts it back.`, severity: 'warning' } }
    }
    if (event.toolName === 'sync_undo') {
      return { requireApproval: { title: 'Undo a restore', description: `Put the workspace back as it was before restore ${String(event.params?.restore_id)}?`, severity: 'warning' } }
    }
    return undefined
  })

  api.on('after_compaction', (_event, ctx) => hookSync(ctx)?.trigger('compaction'))
  api.on('before_reset', (_event, ctx) => {
    const sync = hookSync(ctx)
    if (sync) delayed.afterSessionNote(sync, 'reset')
  })
  api.on('session_end', (event, ctx) => {
    if (event?.reason === 'shutdown' || event?.reason === 'restart') return // gateway_stop flushes
    const sync = hookSync(ctx)
    if (sync) delayed.afterSessionNote(sync, 'reset')
  })
  api.on('message_received', (event, ctx) => {
    if (typeof event?.content !== 'string' || !WRAP_UP.test(event.content)) return
    const sync = hookSync(ctx)
    if (sync) delayed.afterSettling(sync, 'wrap-up')
  })
  api.on('gateway_stop', () => stopScheduling())

  api.registerCommand({
    name: COMMAND_NAME,
    description: "Back up this agent's memory now (session-sync-cloud).",
    acceptsArgs: false,
    requireAuth: true,
    async handler(ctx) {
      try {
        const sync = syncFor(ctx.agentId)
        if (!sync) return { text: 'session-sync-cloud: syncing runs only inside the gateway.' }
        await syncs.ready(sync)
        const s = await sync.syncNow({ trigger: 'manual' })
        return { text: s.result === 'unchanged' ? 'Backup: nothing changed since the last snapshot.' : `Backup: snapshot ${s.snapshot?.slice(0, 8)} (${s.filesNew} new, ${s.filesChanged} changed file(s)).` }
      } catch (e) {
        return { text: `Backup failed: ${errorOf(e).message}` }
      }
    },
  })

  registerDashboard(api, (agentId) => syncFor(agentId))

  let health: NodeJS.Timeout | undefined
  let stopped = false
  let scheduling: AbortController | undefined
  const stopScheduling = async () => {
    const first = !stopped
    stopped = true
    scheduling?.abort()
    scheduling = undefined
    clearInterval(health)
    health = undefined
    if (gatewayTools() === ownTools) shareGatewayTools(undefined)
    const dropped = delayed.cancel()
    const agents = syncs.all().length
    await syncs.stopAll()
    if (first && inGateway) {
      api.logger.info(`session-sync-cloud: stopped: schedules of ${agents} agent(s) ended, ${dropped} waiting triggered sync(s) dropped, any running sync aborted; no upload starts after this`)
    }
  }
  // At the gateway's drain no schedule may re-arm (gateway_stop then disposes the rest).
  api.on('gateway_start', (_event, ctx) => {
    ctx.abortSignal?.addEventListener('abort', () => void stopScheduling(), { once: true })
  })
  api.registerService({
    id: SERVICE_ID,
    start(ctx) {
      if (!inGateway) return
      stopped = false
      shareGatewayTools(ownTools)
      hostStateDir = ctx.stateDir
      // In the background: opening (or creating) each repository must not hold up the gateway's start.
      scheduling = new AbortController()
      void startSchedules(ctx, api, sdk, syncs, scheduling.signal).then((r) => {
        if (r.failures.length > 0) ctx.serviceHealth?.reportFailure(new Error(r.failures.join('; ')))
      })
      health = setInterval(() => reportHealth(ctx, syncs.all()), opts.healthCheckMs ?? HEALTH_CHECK_MS)
      health.unref?.()
    },
    async stop() {
      await stopScheduling()
    },
  })
}

/**
 * The gateway's load of the plugin (registrationMode "full") shares its tools' access to the syncs
 * process-wide. An agent turn does not call the gateway's tools: OpenClaw prepares the run's model
 * runtime with a fresh, read-only plugin registry (registrationMode "discovery"; a cold load for
 * tools alone is "tool-discovery") in the gateway's process, and calls that load's tools. Those use
 * the gateway's syncs through this, so one WorkspaceSync per agent serves tools, hooks, command and
 * schedule, opened with the config the gateway resolved (its SecretRefs).
 */
const GATEWAY_TOOLS = Symbol.for('session-sync-cloud.gateway-tools')
type SharedTools = { [GATEWAY_TOOLS]?: ToolHost }
const gatewayTools = (): ToolHost | undefined => (globalThis as SharedTools)[GATEWAY_TOOLS]
const shareGatewayTools = (host: ToolHost | undefined): void => {
  ;(globalThis as SharedTools)[GATEWAY_TOOLS] = host
}

/**
 * Starts the schedule of every configured agent (each does a catch-up sync when one is due), after
 * making sure its repository exists.
 */
async function startSchedules(ctx: HostServiceContext, api: HostApi, sdk: HostSdk, syncs: AgentSyncs, signal: AbortSignal): Promise<{ started: string[]; failures: string[] }> {
  const started: string[] = []
  const failures: string[] = []
  let agents: string[]
  try {
    agents = sdk.listAgentIds(ctx.config as never)
  } catch {
    agents = [DEFAULT_AGENT]
  }
  for (const agent of agents.length > 0 ? agents : [DEFAULT_AGENT]) {
    if (signal.aborted) break
    try {
      const sync = syncs.get(agent)
      if (!sync.configured) {
        ctx.logger.info(`session-sync-cloud: agent ${agent} is not configured (no "provider"); its memory is not backed up`)
        continue
      }
      for (const w of sync.configWarnings) ctx.logger.warn(`session-sync-cloud: agent ${agent}: ${w}`)
      if (!sync.config.enabled) continue
      await syncs.ready(sync)
      if (signal.aborted) break
      const scheduled = sync.start({ owner: 'openclaw gateway' })
      if (scheduled.heldBy) {
        ctx.logger.info(
          `session-sync-cloud: agent ${agent}: ${scheduled.heldBy.owner ?? 'another process'} (pid ${scheduled.heldBy.pid}) runs this workspace's schedule already; the gateway takes it over if that stops`,
        )
      }
      started.push(agent)
    } catch (e) {
      const message = `agent ${agent}: ${errorOf(e).message}`
      failures.push(message)
      ctx.logger.warn(`session-sync-cloud: ${message}`)
    }
  }
  if (started.length > 0) api.logger.info(`session-sync-cloud: scheduled syncs for ${started.join(', ')}`)
  return { started, failures }
}

/** Two failed syncs in a row, for any agent, mark the service unhealthy until one succeeds. */
function reportHealth(ctx: HostServiceContext, syncs: WorkspaceSync[]): void {
  const failing: string[] = []
  for (const sync of syncs) {
    const failures = sync.failuresInARow()
    if (failures >= 2) failing.push(`agent ${sync.agent}: ${failures} syncs in a row failed, the last: ${sync.lastSync()?.error?.message ?? 'sync failed'}`)
  }
  if (failing.length > 0) ctx.serviceHealth?.reportFailure(new Error(`repeated sync failures: ${failing.join('; ')}`))
  else ctx.serviceHealth?.clearFailure()
}

/** OpenClaw's database of one agent (its transcripts, and secrets the sync never reads). */
function agentDatabase(hostStateDir: string | undefined, agentId: string): string | undefined {
  return hostStateDir ? join(hostStateDir, 'agents', agentId, 'agent', 'openclaw-agent.sqlite') : undefined
}

function safeStateDir(api: HostApi): string | undefined {
  try {
    return api.runtime.state.resolveStateDir()
  } catch {
    return undefined
  }
}

export type { HostLogger }
