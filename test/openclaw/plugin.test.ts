// The OpenClaw plugin against a recording fake of the host's plugin API: what it registers, and
// each tool's contract (results under details.sync, ok/error at the top, staged restores by default,
// approvals and sandbox refusals for in-place restores and undo), the schedule and the hooks.
// The real host is exercised by host.test.ts.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Value } from 'typebox/value'
import { registerSessionSync, SERVICE_ID } from '../../src/openclaw/plugin.js'
import type { HostApi, HostCommand, HostHttpRoute, HostService, HostServiceContext, HostTool, HostToolContext, HostToolFactory } from '../../src/openclaw/host.js'
import { DASHBOARD_LINK_PATH, DASHBOARD_PREFIX } from '../../src/openclaw/dashboard.js'
import { createTools, OPTIONAL_TOOLS, REQUIRED_TOOLS, TOOL_NAMES, TOOL_PARAMETERS } from '../../src/openclaw/tools.js'
import { ObjectLockModel, WorkspaceSync, type Backend, type SyncStatus } from '../../src/index.js'
import { cleanup, tempDir } from '../helpers.js'

after(cleanup)

const root = tempDir()
// The plugin's syncs read the process's environment (src/openclaw/env.ts): this file's own process.
process.env.SESSION_SYNC_STATE_DIR = join(root, 'state')
process.env.SESSION_SYNC_KEY = randomBytes(32).toString('base64')
delete process.env.SESSION_SYNC_PASSWORD

interface Recorded {
  tools: Array<{ factory: HostToolFactory; opts?: { names?: string[]; optional?: boolean } }>
  services: HostService[]
  commands: HostCommand[]
  routes: HostHttpRoute[]
  hooks: Map<string, Array<(event: unknown, ctx: unknown) => unknown>>
  logs: string[]
}

function fakeHost(opts: { mode?: string; pluginConfig?: Record<string, unknown>; workspaces?: Record<string, string> } = {}): { api: HostApi; rec: Recorded } {
  const rec: Recorded = { tools: [], services: [], commands: [], routes: [], hooks: new Map(), logs: [] }
  const log = (level: string) => (m: string) => void rec.logs.push(`${level}: ${m}`)
  const api: HostApi = {
    id: 'session-sync-cloud',
    registrationMode: opts.mode ?? 'full',
    config: { agents: {} },
    pluginConfig: opts.pluginConfig,
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    runtime: {
      agent: {
        resolveAgentWorkspaceDir: (_cfg, agentId) => opts.workspaces?.[agentId] ?? join(root, `no-workspace-${agentId}`),
      },
      state: { resolveStateDir: () => join(root, 'host-state') },
    },
    registerTool: (factory, o) => void rec.tools.push({ factory, opts: o }),
    registerService: (s) => void rec.services.push(s),
    registerCommand: (c) => void rec.commands.push(c),
    registerHttpRoute: (r) => void rec.routes.push(r),
    on: (hook, handler) => {
      const list = rec.hooks.get(hook) ?? []
      list.push(handler as (event: unknown, ctx: unknown) => unknown)
      rec.hooks.set(hook, list)
    },
  }
  return { api, rec }
}

function toolsOf(rec: Recorded, ctx: HostToolContext): Map<string, HostTool> {
  const out = new Map<string, HostTool>()
  for (const { factory } of rec.tools) for (const t of factory(ctx) ?? []) out.set(t.name, t)
  return out
}

function workspace(name: string): string {
  const ws = join(root, name)
  mkdirSync(join(ws, 'memory'), { recursive: true })
  writeFileSync(join(ws, 'MEMORY.md'), `# ${name}\n- likes tea\n`)
  writeFileSync(join(ws, 'memory', '2026-12-01.md'), 'first day\n')
  return ws
}

const details = (r: { details: unknown }) => r.details as { ok: boolean; error?: string; sync: Record<string, unknown> & { error?: { code: string } } }

describe('OpenClaw plugin: registration', () => {
  it('registers the five tools (restore and undo optional), the schedule, /sync_now, /sync_dashboard, the dashboard routes and its hooks', () => {
    const { api, rec } = fakeHost()
    registerSessionSync(api, { listAgentIds: () => ['main'] })
    assert.deepEqual(rec.tools.map((t) => t.opts), [{ names: [...REQUIRED_TOOLS] }, { names: [...OPTIONAL_TOOLS], optional: true }])
    const tools = toolsOf(rec, { agentId: 'main' })
    assert.deepEqual([...tools.keys()].sort(), [...TOOL_NAMES].sort())
    for (const t of tools.values()) {
      assert.equal(t.parameters.type, 'object', t.name)
      assert.ok(t.label && t.description, t.name)
      assert.ok(!/key|secret|passphrase|password/i.test(Object.keys((t.parameters.properties as object) ?? {}).join(' ')), `${t.name} takes no secret`)
    }
    assert.deepEqual(rec.services.map((s) => s.id), [SERVICE_ID])
    assert.deepEqual(rec.commands.map((c) => c.name), ['sync_now', 'sync_dashboard'])
    assert.deepEqual(
      rec.routes.map(({ path, auth, match }) => ({ path, auth, match })),
      [
        { path: DASHBOARD_PREFIX, auth: 'plugin', match: 'prefix' },
        { path: DASHBOARD_LINK_PATH, auth: 'gateway', match: 'exact' },
      ],
    )
    assert.deepEqual([...rec.hooks.keys()].sort(), ['after_compaction', 'before_reset', 'before_tool_call', 'gateway_start', 'gateway_stop', 'message_received', 'session_end'])
  })

  it('tool parameters are JSON Schemas that TypeBox checks as they are', () => {
    assert.equal(Value.Check(TOOL_PARAMETERS.sync_restore, { timestamp: 'latest', paths: ['memory'], in_place: false }), true)
    assert.equal(Value.Check(TOOL_PARAMETERS.sync_restore, { paths: ['memory'] }), false, 'timestamp is required')
    assert.equal(Value.Check(TOOL_PARAMETERS.sync_restore, { timestamp: 'latest', key: 'x' }), false, 'no other parameter')
    assert.equal(Value.Check(TOOL_PARAMETERS.sync_undo, { restore_id: 'restore-1' }), true)
    assert.equal(Value.Check(TOOL_PARAMETERS.sync_undo, {}), false)
    assert.equal(Value.Check(TOOL_PARAMETERS.sync_status, {}), true)
  })

  it('outside the gateway (no resolved secrets) the tools open nothing and say so; the service does nothing', async () => {
    const ws = workspace('ws-discovery')
    // No gateway runs in this process (other tests' gateway loads are replaced by one that stops).
    const stopped = fakeHost()
    registerSessionSync(stopped.api, { listAgentIds: () => ['main'] })
    await stopped.rec.services[0].stop?.(serviceContext())
    const { api, rec } = fakeHost({ mode: 'discovery', pluginConfig: { provider: 'local', path: join(root, 'repo-discovery') } })
    registerSessionSync(api, { listAgentIds: () => ['main'] })
    const r = await toolsOf(rec, { agentId: 'main', workspaceDir: ws }).get('sync_now')!.execute('call-1', {})
    assert.equal(details(r).ok, false)
    assert.equal(details(r).sync.error?.code, 'NOT_IN_GATEWAY')
    await rec.services[0].start(serviceContext())
    await rec.services[0].stop?.(serviceContext())
    assert.equal(existsSync(join(root, 'repo-discovery')), false)
  })
})

function serviceContext(health: string[] = []): HostServiceContext {
  return {
    config: {},
    stateDir: join(root, 'host-state'),
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    serviceHealth: { reportFailure: (e) => void health.push(`fail: ${(e as Error).message}`), clearFailure: () => void health.push('clear') },
  }
}

describe('OpenClaw plugin: tools in the gateway', () => {
  it('an unconfigured workspace reports "not configured" and sync_now fails cleanly', async () => {
    const ws = workspace('ws-unconfigured')
    const { api, rec } = fakeHost()
    registerSessionSync(api, { listAgentIds: () => ['main'] })
    const tools = toolsOf(rec, { agentId: 'main', workspaceDir: ws })
    const status = await tools.get('sync_status')!.execute('c', {})
    assert.equal(details(status).ok, true)
    assert.equal(details(status).sync.configured, false)
    assert.match(status.content[0].text, /Not configured/)
    const now = await tools.get('sync_now')!.execute('c', {})
    assert.equal(details(now).ok, false)
    assert.equal(details(now).sync.error?.code, 'NOT_CONFIGURED')
    assert.ok(details(now).error)
  })

  it('an invalid plugin config is a failed call with the config error, not a thrown one', async () => {
    const ws = workspace('ws-invalid')
    const { api, rec } = fakeHost({ pluginConfig: { provider: 'floppy' } })
    registerSessionSync(api, { listAgentIds: () => ['main'] })
    const r = await toolsOf(rec, { agentId: 'main', workspaceDir: ws }).get('sync_status')!.execute('c', {})
    assert.equal(details(r).ok, false)
    assert.equal(details(r).sync.error?.code, 'INVALID_CONFIG')
  })

  it('sync_now creates the repository and backs up; snapshots, a staged restore, an approved in-place restore and undo', async () => {
    const ws = workspace('ws-main')
    const repo = join(root, 'repo-main')
    const { api, rec } = fakeHost({ pluginConfig: { provider: 'local', path: repo }, workspaces: { main: ws } })
    registerSessionSync(api, { listAgentIds: () => ['main'] })
    const tools = toolsOf(rec, { agentId: 'main', workspaceDir: ws })

    const first = await tools.get('sync_now')!.execute('c1', {})
    assert.equal(details(first).ok, true, first.content[0].text)
    const summary = details(first).sync as { result: string; snapshot: string; filesNew: number }
    assert.equal(summary.result, 'ok')
    assert.equal(summary.filesNew, 2)
    assert.ok(existsSync(join(repo, 'config')), 'the repository was created')

    const list = await tools.get('sync_snapshots')!.execute('c2', {})
    assert.equal(details(list).ok, true)
    const snaps = details(list).sync as { total: number; snapshots: Array<{ id: string; device: string; trigger: string }> }
    assert.equal(snaps.total, 1)
    assert.equal(snaps.snapshots[0].id, summary.snapshot)
    assert.equal(snaps.snapshots[0].trigger, 'manual')

    writeFileSync(join(ws, 'MEMORY.md'), 'overwritten by mistake\n')
    const staged = await tools.get('sync_restore')!.execute('c3', { timestamp: 'latest' })
    assert.equal(details(staged).ok, true, staged.content[0].text)
    const s = details(staged).sync as { inPlace: boolean; stagingDir: string; diff: { changed: string[] } }
    assert.equal(s.inPlace, false)
    assert.deepEqual(s.diff.changed, ['MEMORY.md'])
    assert.equal(readFileSync(join(ws, 'MEMORY.md'), 'utf8'), 'overwritten by mistake\n', 'a staged restore leaves the workspace alone')
    assert.match(readFileSync(join(s.stagingDir, 'MEMORY.md'), 'utf8'), /likes tea/)

    // In place and undo ask first; a staged restore does not.
    const approval = rec.hooks.get('before_tool_call')![0]
    assert.equal(approval({ toolName: 'sync_restore', params: { timestamp: 'latest' } }, {}), undefined)
    assert.ok((approval({ toolName: 'sync_restore', params: { timestamp: 'latest', in_place: true } }, {}) as { requireApproval?: object }).requireApproval)
    assert.ok((approval({ toolName: 'sync_undo', params: { restore_id: 'x' } }, {}) as { requireApproval?: object }).requireApproval)
    assert.equal(approval({ toolName: 'exec', params: {} }, {}), undefined)

    // A sandboxed run may not write the workspace.
    const sandboxed = toolsOf(rec, { agentId: 'main', workspaceDir: ws, sandboxed: true })
    const refused = await sandboxed.get('sync_restore')!.execute('c4', { timestamp: 'latest', in_place: true })
    assert.equal(details(refused).ok, false)
    assert.equal(details(refused).sync.error?.code, 'SANDBOXED')
    assert.equal(details((await sandboxed.get('sync_undo')!.execute('c5', { restore_id: 'x' }))).sync.error?.code, 'SANDBOXED')
    assert.equal(readFileSync(join(ws, 'MEMORY.md'), 'utf8'), 'overwritten by mistake\n')

    const inPlace = await tools.get('sync_restore')!.execute('c6', { timestamp: 'latest', in_place: true })
    assert.equal(details(inPlace).ok, true, inPlace.content[0].text)
    const restored = details(inPlace).sync as { id: string; inPlace: boolean }
    assert.equal(restored.inPlace, true)
    assert.match(readFileSync(join(ws, 'MEMORY.md'), 'utf8'), /likes tea/)

    const undone = await tools.get('sync_undo')!.execute('c7', { restore_id: restored.id })
    assert.equal(details(undone).ok, true, undone.content[0].text)
    assert.equal(readFileSync(join(ws, 'MEMORY.md'), 'utf8'), 'overwritten by mistake\n')

    const unknown = await tools.get('sync_undo')!.execute('c8', { restore_id: 'restore-nope' })
    assert.equal(details(unknown).ok, false)

    const cmd = await rec.commands[0].handler({ agentId: 'main', commandBody: '/sync_now', config: {} })
    assert.match(cmd.text ?? '', /Backup:/)
    await rec.services[0].stop?.(serviceContext())
  })

  it('/sync_dashboard gives a one-time link; the plugin route trades it for a cookie once and serves the dashboard with it', async () => {
    const ws = workspace('ws-dash')
    const { api, rec } = fakeHost({ pluginConfig: { provider: 'local', path: join(root, 'repo-dash') }, workspaces: { main: ws } })
    registerSessionSync(api, { listAgentIds: () => ['main'] })
    assert.equal(details(await toolsOf(rec, { agentId: 'main', workspaceDir: ws }).get('sync_now')!.execute('c', {})).ok, true)
    const route = rec.routes.find((r) => r.path === DASHBOARD_PREFIX)!
    const server = createServer(async (req, res) => {
      if (!(await route.handler(req, res))) res.writeHead(404).end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    try {
      const cmd = rec.commands.find((c) => c.name === 'sync_dashboard')!
      const out = await cmd.handler({ agentId: 'main', commandBody: '/sync_dashboard', config: { gateway: { port } } })
      const link = /(http:\/\/127\.0\.0\.1:\d+\S+)/.exec(out.text ?? '')?.[1]
      assert.ok(link, out.text)
      assert.equal(new URL(link).pathname, `${DASHBOARD_PREFIX}/main/`)
      const opened = await fetch(link, { redirect: 'manual' })
      assert.equal(opened.status, 303)
      assert.equal(opened.headers.get('location'), './')
      const cookie = opened.headers.get('set-cookie') ?? ''
      assert.match(cookie, /HttpOnly/)
      assert.match(cookie, /SameSite=Strict/)
      assert.match(cookie, new RegExp(`Path=${DASHBOARD_PREFIX}/main/`))
      const pair = cookie.split(';')[0]
      assert.equal((await fetch(link, { redirect: 'manual' })).status, 401, 'a ticket opens once')
      const base = `http://127.0.0.1:${port}${DASHBOARD_PREFIX}/main/`
      assert.equal((await fetch(base, { headers: { cookie: pair } })).status, 200)
      const { token } = (await (await fetch(`${base}session`, { headers: { cookie: pair } })).json()) as { token: string }
      const overview = await fetch(`${base}api/overview`, { headers: { 'x-session-sync-token': token } })
      assert.equal(overview.status, 200)
      assert.equal(((await overview.json()) as { totals: { snapshots: number } }).totals.snapshots, 1)
      assert.equal((await fetch(`${base}api/overview`)).status, 401)
      assert.equal((await fetch(`${base}session`)).status, 401)
      // another agent's path does not take this agent's session
      assert.equal((await fetch(`http://127.0.0.1:${port}${DASHBOARD_PREFIX}/other/api/overview`, { headers: { 'x-session-sync-token': token } })).status, 404)
    } finally {
      server.close()
      server.closeAllConnections()
      await rec.services[0].stop?.(serviceContext())
    }
  })
})

describe('OpenClaw plugin: schedule and hooks', () => {
  it('the service starts a schedule per configured agent, each with its own history, and stops them', async () => {
    const wsA = workspace('ws-agent-a')
    const wsB = workspace('ws-agent-b')
    const repo = join(root, 'repo-shared')
    const { api, rec } = fakeHost({ pluginConfig: { provider: 'local', path: repo }, workspaces: { alpha: wsA, beta: wsB } })
    registerSessionSync(api, { listAgentIds: () => ['alpha', 'beta'] }, { healthCheckMs: 50 })
    const health: string[] = []
    await rec.services[0].start(serviceContext(health))
    // Each agent's catch-up sync runs at once (none has synced yet).
    const deadline = Date.now() + 30_000
    let a: { snapshotsPerDevice: Record<string, number> } | undefined
    let b: typeof a
    while (Date.now() < deadline) {
      a = details(await toolsOf(rec, { agentId: 'alpha', workspaceDir: wsA }).get('sync_status')!.execute('s', {})).sync as typeof a
      b = details(await toolsOf(rec, { agentId: 'beta', workspaceDir: wsB }).get('sync_status')!.execute('s', {})).sync as typeof a
      if (Object.keys(a!.snapshotsPerDevice).length > 0 && Object.keys(b!.snapshotsPerDevice).length > 0) break
      await sleep(100)
    }
    assert.deepEqual(Object.values(a!.snapshotsPerDevice), [1], 'alpha sees only its own snapshot')
    assert.deepEqual(Object.values(b!.snapshotsPerDevice), [1], 'beta sees only its own snapshot')
    await sleep(120)
    assert.ok(health.includes('clear'), `health checks ran: ${health.join(', ')}`)
    assert.ok(!health.some((h) => h.startsWith('fail')), health.join(', '))
    await rec.services[0].stop?.(serviceContext())
  })

  it('repeated sync failures are reported through the service health', async () => {
    const ws = workspace('ws-failing')
    // A file where the repository folder should be: every sync fails.
    writeFileSync(join(root, 'repo-is-a-file'), 'x')
    const { api, rec } = fakeHost({ pluginConfig: { provider: 'local', path: join(root, 'repo-is-a-file') }, workspaces: { main: ws } })
    registerSessionSync(api, { listAgentIds: () => ['main'] }, { healthCheckMs: 50 })
    const tools = toolsOf(rec, { agentId: 'main', workspaceDir: ws })
    assert.equal(details(await tools.get('sync_now')!.execute('a', {})).ok, false)
    assert.equal(details(await tools.get('sync_now')!.execute('b', {})).ok, false)
    const health: string[] = []
    await rec.services[0].start(serviceContext(health))
    await sleep(200)
    await rec.services[0].stop?.(serviceContext())
    assert.ok(health.some((h) => h.startsWith('fail')), health.join(', '))
  })

  it('hooks only ask for a sync: /wrap_up after the settle time, a reset when the session note appears', async () => {
    const ws = workspace('ws-hooks')
    const repo = join(root, 'repo-hooks')
    writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ debounce_seconds: 0 }))
    const { api, rec } = fakeHost({ pluginConfig: { provider: 'local', path: repo }, workspaces: { main: ws } })
    registerSessionSync(api, { listAgentIds: () => ['main'] }, { settleMs: 300, pollMs: 20 })
    const tools = toolsOf(rec, { agentId: 'main', workspaceDir: ws })
    assert.equal(details(await tools.get('sync_now')!.execute('init', {})).ok, true)
    const count = async () => (details(await tools.get('sync_snapshots')!.execute('n', {})).sync as { total: number }).total
    const fire = (hook: string, event: unknown) => rec.hooks.get(hook)![0](event, { agentId: 'main', workspaceDir: ws })

    fire('message_received', { content: 'hello there' })
    fire('message_received', { content: '/wrap_up please' })
    writeFileSync(join(ws, 'memory', 'notes-from-wrap-up.md'), 'wrapped\n')
    await sleep(100)
    assert.equal(await count(), 1, 'nothing before the settle time')
    await waitFor(async () => (await count()) === 2)

    fire('after_compaction', {})
    writeFileSync(join(ws, 'MEMORY.md'), 'compacted\n')
    await waitFor(async () => (await count()) === 3)
    await fire('gateway_stop', {})

    // A reset, with the fallback ten minutes away: the sync that follows is the session note's.
    const ws2 = workspace('ws-hooks-reset')
    writeFileSync(join(ws2, 'session-sync-config.json'), JSON.stringify({ debounce_seconds: 0 }))
    const second = fakeHost({ pluginConfig: { provider: 'local', path: join(root, 'repo-hooks-reset') }, workspaces: { main: ws2 } })
    registerSessionSync(second.api, { listAgentIds: () => ['main'] }, { settleMs: 600_000, pollMs: 20 })
    const tools2 = toolsOf(second.rec, { agentId: 'main', workspaceDir: ws2 })
    assert.equal(details(await tools2.get('sync_now')!.execute('init', {})).ok, true)
    const count2 = async () => (details(await tools2.get('sync_snapshots')!.execute('n', {})).sync as { total: number }).total
    second.rec.hooks.get('before_reset')![0]({}, { agentId: 'main', workspaceDir: ws2 })
    await sleep(60)
    assert.equal(await count2(), 1, 'no sync before the note')
    writeFileSync(join(ws2, 'memory', '2026-12-05-1015.md'), 'session summary\n')
    await waitFor(async () => (await count2()) === 2)
    await second.rec.hooks.get('gateway_stop')![0]({}, { agentId: 'main', workspaceDir: ws2 })
  })
})

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(20)
  }
  assert.fail(`not within ${ms} ms`)
}

describe("OpenClaw plugin: an agent turn's load of the plugin in the gateway's process", () => {
  it('its tools ("discovery" load, unresolved config) run on the gateway\'s syncs with the gateway\'s config; after the gateway stops they say NOT_IN_GATEWAY', async () => {
    const ws = workspace('ws-turn')
    const repo = join(root, 'repo-turn')
    const gateway = fakeHost({ pluginConfig: { provider: 'local', path: repo }, workspaces: { main: ws } })
    registerSessionSync(gateway.api, { listAgentIds: () => ['main'] })
    // The run's own load: its config is not the one the gateway resolved.
    const turn = fakeHost({ mode: 'discovery', pluginConfig: { provider: 'local', path: join(root, 'repo-turn-unresolved') } })
    registerSessionSync(turn.api, { listAgentIds: () => ['main'] })
    const tools = toolsOf(turn.rec, { agentId: 'main', workspaceDir: ws })

    const now = await tools.get('sync_now')!.execute('t1', {})
    assert.equal(details(now).ok, true, now.content[0].text)
    assert.equal((details(now).sync as { result: string }).result, 'ok')
    assert.ok(existsSync(join(repo, 'config')), "the gateway's repository was created")
    assert.equal(existsSync(join(root, 'repo-turn-unresolved')), false, "the run's own config opened nothing")
    // The same sync: the gateway's tools see the run's snapshot as the last sync.
    const status = await toolsOf(gateway.rec, { agentId: 'main', workspaceDir: ws }).get('sync_status')!.execute('g1', {})
    assert.equal((details(status).sync as { lastSync?: { result: string; trigger?: string } }).lastSync?.trigger, 'manual')
    const turnStatus = await tools.get('sync_status')!.execute('t2', {})
    assert.match(turnStatus.content[0].text, /^Backups go to .*; last sync .* \(ok\); storage reachable\./)

    await gateway.rec.services[0].stop?.(serviceContext())
    const after = await tools.get('sync_status')!.execute('t3', {})
    assert.equal(details(after).sync.error?.code, 'NOT_IN_GATEWAY')
  })
})

describe('OpenClaw plugin: secrets and a new repository', () => {
  it('an unresolved SecretRef reaching the plugin in the gateway: the tools fail with UNRESOLVED_SECRET naming it, nothing is opened', async () => {
    const ws = workspace('ws-unresolved')
    const repo = join(root, 'repo-unresolved')
    const { api, rec } = fakeHost({ pluginConfig: { provider: 'local', path: repo, passphrase: { source: 'store', provider: 'default', id: 'SYNC_PASSPHRASE' } } })
    registerSessionSync(api, { listAgentIds: () => ['main'] })
    const r = await toolsOf(rec, { agentId: 'main', workspaceDir: ws }).get('sync_now')!.execute('call-1', {})
    assert.equal(details(r).ok, false)
    assert.equal(details(r).sync.error?.code, 'UNRESOLVED_SECRET')
    assert.match(details(r).error!, /"passphrase" is an unresolved secret reference \(store:default:SYNC_PASSPHRASE\)/)
    assert.equal(existsSync(repo), false)
  })

  it('two first syncs at once (the catch-up and a tool call) create the repository once; both succeed', async () => {
    const ws = workspace('ws-race')
    const repo = join(root, 'repo-race')
    const { api, rec } = fakeHost({ pluginConfig: { provider: 'local', path: repo } })
    registerSessionSync(api, { listAgentIds: () => ['main'] })
    const now = toolsOf(rec, { agentId: 'main', workspaceDir: ws }).get('sync_now')!
    const [a, b] = await Promise.all([now.execute('call-1', {}), now.execute('call-2', {})])
    assert.equal(details(a).ok, true, JSON.stringify(details(a)))
    assert.equal(details(b).ok, true, JSON.stringify(details(b)))
    assert.ok(existsSync(join(repo, 'config')))
  })
})

describe('OpenClaw plugin: sync_status in protected mode', () => {
  it('names protection, where pruning runs, suspicious snapshots, unexplained delete markers and pending config changes, in its text and details', async () => {
    const ws = workspace('ws-protected')
    const model = new ObjectLockModel({ objectLock: true, defaultRetention: { mode: 'GOVERNANCE', days: 37 } })
    const env = { SESSION_SYNC_STATE_DIR: join(root, 'state-protected'), HOME: root, SESSION_SYNC_KEY: Buffer.alloc(32, 9).toString('base64') }
    const open = (config: Record<string, unknown>): WorkspaceSync => {
      writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo-protected'), debounce_seconds: 0, protect: true, ...config }))
      const sync = WorkspaceSync.create({ workspace: ws, env })
      ;(sync as unknown as { backend: Backend }).backend = model.backend('writer')
      return sync
    }
    const first = open({})
    await first.init()
    const s = await first.syncNow({ trigger: 'manual' })
    const repo = await first.repository()
    const snap = await repo.findSnapshot(s.snapshot!)
    const forged = await repo.saveSnapshot({ time: new Date(Date.now() - 20 * 86_400_000).toISOString(), host: snap.host, user: snap.user, paths: snap.paths, tags: snap.tags, tree: Buffer.from(snap.tree, 'hex'), parents: [], excludes: [] })
    await first.close()
    const index = [...model.objects.keys()].find((k) => k.startsWith('index/'))!
    await model.backend('deleter').remove({ type: 'index', name: index.slice('index/'.length) })

    // The agent, prompt-injected, leaves its memory out: that waits for the owner.
    const sync = open({ exclude: ['memory/'] })
    await sync.checkVersions()
    const tools = new Map(createTools({ syncFor: () => sync, ready: async () => {} }, { agentId: 'main', workspaceDir: ws }).map((t) => [t.name, t]))
    const r = await tools.get('sync_status')!.execute('p1', {})
    const d = details(r)
    assert.equal(d.ok, true)
    const st = d.sync as unknown as SyncStatus
    assert.equal(st.protected, true)
    assert.deepEqual(st.protection, { versioning: 'enabled', objectLock: true, lockMode: 'GOVERNANCE', lockDays: 37 })
    assert.deepEqual(st.suspiciousSnapshots, [forged])
    assert.deepEqual(st.versionCheck?.events.map((e) => [e.key, e.kind]), [[index, 'delete']])
    assert.equal(st.pendingConfigChange?.length, 1)
    const text = r.content[0].text
    assert.match(text, /Protected history \(versioning, Object Lock GOVERNANCE 37 days\): this credential cannot delete/)
    assert.match(text, /pruning runs from a trusted device: "session-sync sync retention --workspace /i)
    assert.ok(text.includes(`Suspicious snapshots: 1 (${forged.slice(0, 8)})`), text)
    assert.ok(text.includes(`Object versions: 1 delete marker(s) and 0 overwrite(s) that no trusted prune made`), text)
    assert.ok(text.includes(`deleted ${index}`), text)
    assert.match(text, /Config changes waiting for the owner's confirmation: /)
    assert.match(text, /session-sync check --versions/)
    await sync.close()
  })
})
