/**
 * The part of OpenClaw's plugin API this plugin uses, written out structurally.
 *
 * The real types live in the `openclaw` package (`openclaw/plugin-sdk/plugin-entry`), which cannot
 * be a dependency of this package: its install script refuses Node < 24.16, and this library
 * supports Node 20. The host test (test/openclaw/host.test.ts) type-checks `registerSessionSync`
 * against the real `OpenClawPluginApi` of the pinned host, so these shapes cannot drift unnoticed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface HostLogger {
  info(message: string): void
  warn(message: string): void
  error(message: string): void
  debug?(message: string): void
}

/** OpenClaw's `OpenClawPluginToolContext` (the fields read here). */
export interface HostToolContext {
  agentId?: string
  workspaceDir?: string
  sessionKey?: string
  /** The run is sandboxed: nothing may write to the host's files outside the sandbox. */
  sandboxed?: boolean
}

/** OpenClaw's `AgentToolResult`: text for the model, data for the host and other callers. */
export interface HostToolResult {
  content: Array<{ type: 'text'; text: string }>
  details: unknown
}

/** OpenClaw's `AgentTool` (parameters: a JSON Schema object, as TypeBox produces). */
export interface HostTool {
  name: string
  label: string
  description: string
  parameters: Record<string, unknown>
  execute(toolCallId: string, params: unknown, signal?: AbortSignal): Promise<HostToolResult>
}

export type HostToolFactory = (ctx: HostToolContext) => HostTool[] | null | undefined

export interface HostServiceContext {
  config: unknown
  workspaceDir?: string
  stateDir: string
  logger: HostLogger
  serviceHealth?: { reportFailure(error: unknown): void; clearFailure(): void }
}

export interface HostService {
  id: string
  start(ctx: HostServiceContext): void | Promise<void>
  stop?(ctx: HostServiceContext): void | Promise<void>
}

export interface HostCommandContext {
  agentId?: string
  args?: string
  commandBody: string
  config: unknown
}

export interface HostCommand {
  name: string
  description: string
  acceptsArgs?: boolean
  requireAuth?: boolean
  handler(ctx: HostCommandContext): Promise<{ text?: string }>
}

/** The typed hooks this plugin registers, with the fields it reads. */
export interface HostHookEvents {
  before_tool_call: { toolName: string; params: Record<string, unknown> }
  after_compaction: unknown
  before_reset: unknown
  session_end: { reason?: string }
  message_received: { content?: string }
  gateway_start: unknown
  gateway_stop: unknown
}

export interface HostHookContext {
  agentId?: string
  workspaceDir?: string
  sessionKey?: string
  abortSignal?: AbortSignal
}

export interface ApprovalRequest {
  requireApproval: { title: string; description: string; severity?: 'info' | 'warning' | 'critical'; timeoutMs?: number }
}

/** OpenClaw's `OpenClawPluginHttpRouteParams` (the fields used here). */
export interface HostHttpRoute {
  path: string
  /** "gateway": the gateway's bearer auth; "plugin": the plugin checks requests itself. */
  auth: 'gateway' | 'plugin'
  match?: 'exact' | 'prefix'
  handler(req: IncomingMessage, res: ServerResponse): Promise<boolean | void> | boolean | void
}

export interface HostApi {
  id: string
  /** "full" only in the gateway; secrets are resolved only there. */
  registrationMode: string
  config: unknown
  pluginConfig?: Record<string, unknown>
  logger: HostLogger
  runtime: {
    agent: { resolveAgentWorkspaceDir(cfg: never, agentId: string): string }
    state: { resolveStateDir(env?: NodeJS.ProcessEnv): string }
  }
  registerTool(factory: HostToolFactory, opts?: { names?: string[]; optional?: boolean }): void
  registerService(service: HostService): void
  registerCommand(command: HostCommand): void
  registerHttpRoute(route: HostHttpRoute): void
  on<K extends keyof HostHookEvents>(hook: K, handler: (event: HostHookEvents[K], ctx: HostHookContext) => unknown, opts?: { priority?: number }): void
}
