// The plugin's tools in a real agent turn of the real OpenClaw host: the model is a local fake
// OpenAI-compatible server (a custom provider with `api: "openai-completions"` on 127.0.0.1) that
// calls sync_now and then sync_status; what the tools answer is what the fake model gets in its
// next request. The storage's encryption key is a SecretRef into OpenClaw's secret store, so the
// tools only work when they run with the plugin config the gateway resolved.
//
// The host's setup: support/host.ts.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cleanup } from '../helpers.js'
import { ensureHost, HostHome, hostNode, hostSkip, openclawMjs, run } from './support/host.js'

after(cleanup)

type ChatMessage = { role: string; content?: unknown; tool_call_id?: string; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }> }
type ChatRequest = { messages: ChatMessage[]; tools?: Array<{ function: { name: string } }>; stream?: boolean }

/**
 * A fake model: calls sync_now, then sync_status, then answers with text. It sees each tool's
 * result as a `tool` message in the next request.
 */
class FakeModel {
  readonly requests: ChatRequest[] = []
  private server?: Server
  port = 0

  async start(): Promise<void> {
    this.server = createHttpServer((req, res) => {
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
          res.writeHead(404).end('{}')
          return
        }
        const request = JSON.parse(body) as ChatRequest
        this.requests.push(request)
        this.answer(request, res)
      })
    })
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r))
    this.port = (this.server!.address() as { port: number }).port
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise((r) => this.server?.close(r))
  }

  /** The results of our tools the model was sent, by tool name. */
  toolResults(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const request of this.requests) {
      const names = new Map<string, string>()
      for (const m of request.messages) {
        for (const c of m.tool_calls ?? []) names.set(c.id, targetOf(c.function))
        if (m.role === 'tool' && m.tool_call_id) out[names.get(m.tool_call_id) ?? m.tool_call_id] = textOf(m.content)
      }
    }
    return out
  }

  private answer(request: ChatRequest, res: import('node:http').ServerResponse): void {
    const done = new Set(request.messages.filter((m) => m.role === 'assistant').flatMap((m) => (m.tool_calls ?? []).map((c) => targetOf(c.function))))
    const next = ['sync_now', 'sync_status'].find((n) => !done.has(n))
    const offered = new Set((request.tools ?? []).map((t) => t.function.name))
    // Directly when the tool's schema was sent; else through Tool Search's bridge (its default).
    const fn = !next ? undefined : offered.has(next) ? { name: next, arguments: '{}' } : offered.has('tool_call') ? { name: 'tool_call', arguments: JSON.stringify({ id: next, args: {} }) } : undefined
    const call = fn ? { id: `call_${next}`, type: 'function', function: fn } : undefined
    const message = call ? { role: 'assistant', content: null, tool_calls: [call] } : { role: 'assistant', content: 'Checked the backups.' }
    const finish = call ? 'tool_calls' : 'stop'
    const base = { id: `chatcmpl-${this.requests.length}`, created: Math.floor(Date.now() / 1000), model: 'fake-model' }
    const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
    if (!request.stream) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: finish }], usage }))
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    const chunk = (delta: unknown, finish_reason: string | null, extra: Record<string, unknown> = {}) =>
      res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason }], ...extra })}\n\n`)
    if (call) chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, ...call }] }, null)
    else chunk({ role: 'assistant', content: message.content }, null)
    chunk({}, finish, { usage })
    res.end('data: [DONE]\n\n')
  }
}

/** The tool a call runs: its own name, or the target of a Tool Search `tool_call`. */
function targetOf(fn: { name: string; arguments: string }): string {
  if (fn.name !== 'tool_call') return fn.name
  try {
    return String((JSON.parse(fn.arguments) as { id?: unknown }).id)
  } catch {
    return fn.name
  }
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.map((p) => (typeof p === 'string' ? p : String((p as { text?: unknown }).text ?? ''))).join('')
  return JSON.stringify(content)
}

describe('OpenClaw plugin tools in a real agent turn', { skip: hostSkip, timeout: 15 * 60_000 }, () => {
  const host = new HostHome()
  const workspace = join(host.home, 'workspace')
  const repo = join(host.home, 'repo')

  before(ensureHost)

  it('the model calls sync_now and sync_status and is told the real result of the sync', async (t) => {
    host.installPlugin()
    const stored = host.openclaw(['secrets', 'store', 'set', 'SYNC_ENCRYPTION_KEY', '--kind', 'secret'], { input: randomBytes(32).toString('base64') })
    assert.equal(stored.status, 0, stored.all)

    mkdirSync(join(workspace, 'memory'), { recursive: true })
    writeFileSync(join(workspace, 'MEMORY.md'), '# Memory\n- the user likes tea\n')
    writeFileSync(join(workspace, 'memory', '2026-12-06.md'), 'an agent turn backed this up\n')

    const model = new FakeModel()
    await model.start()
    host.editConfig((config) => {
      config.plugins.entries['session-sync-cloud'] = {
        ...config.plugins.entries['session-sync-cloud'],
        config: { provider: 'local', path: repo, encryption_key: { source: 'store', provider: 'default', id: 'SYNC_ENCRYPTION_KEY' } },
      }
      config.models = {
        mode: 'merge',
        providers: {
          fake: {
            baseUrl: `http://127.0.0.1:${model.port}/v1`,
            apiKey: 'sk-fake',
            api: 'openai-completions',
            models: [{ id: 'fake-model', name: 'Fake', reasoning: false, input: ['text'], cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, contextWindow: 128000, maxTokens: 4096 }],
          },
        },
      }
      config.agents = { ...config.agents, defaults: { ...config.agents?.defaults, workspace, model: { primary: 'fake/fake-model' } } }
    })
    const valid = host.openclaw(['config', 'validate'])
    assert.match(valid.all, /Config valid/, valid.all)

    const gateway = await host.startGateway()
    try {
      // Up when /tools/invoke answers (the catch-up sync at start makes the first snapshot).
      await gateway.invoke('sync_snapshots')
      writeFileSync(join(workspace, 'memory', '2026-12-06.md'), 'an agent turn backed this up, changed\n')

      const params = { message: 'Back up my memory now, then tell me whether the backups are fine.', agentId: 'main', sessionKey: 'agent:main:backup-turn', idempotencyKey: randomBytes(8).toString('hex') }
      // Not spawnSync: the fake model answers from this process.
      const turn = await run(hostNode, [openclawMjs, 'gateway', 'call', 'agent', '--port', String(gateway.port), '--token', gateway.token, '--expect-final', '--json', '--timeout', '240000', '--params', JSON.stringify(params)], { env: host.env })
      const results = model.toolResults()
      const seen = `the turn: ${turn.stdout}\n${turn.stderr}\nthe model was sent: ${JSON.stringify(results)}\nthe model's requests: ${model.requests.length}, tools offered: ${JSON.stringify(model.requests[0]?.tools?.map((t) => t.function.name))}\n${gateway.log()}`
      assert.equal(turn.status, 0, seen)
      assert.ok(results.sync_now !== undefined && results.sync_status !== undefined, seen)
      assert.match(results.sync_now, /Snapshot [0-9a-f]{8}: \d+ new, \d+ changed, \d+ unchanged file\(s\)/, seen)
      assert.match(results.sync_status, /Backups go to .*; last sync .* \(ok\); storage reachable\./, seen)
      assert.doesNotMatch(JSON.stringify(results), /NOT_IN_GATEWAY/, seen)
      const bridged = model.requests.some((r) => r.messages.some((m) => m.tool_calls?.some((c) => c.function.name === 'tool_call')))
      t.diagnostic(`the tools were called ${bridged ? "through Tool Search's tool_call" : 'directly'}`)
      const syncs = readFileSync(join(workspace, 'memory', 'sync-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; trigger?: string; result: string })
      assert.ok(syncs.some((e) => e.kind === 'sync' && e.trigger === 'manual' && e.result === 'ok'), seen)
    } finally {
      await gateway.terminate()
      await model.stop()
    }
  })
})
