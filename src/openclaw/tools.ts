/**
 * The agent's tools: sync_status, sync_now, sync_snapshots (read-only), sync_restore (staged unless
 * `in_place`) and sync_undo. Each calls WorkspaceSync and formats its result: a line of text for the
 * model, and the result itself under `details.sync`. OpenClaw grades a call by `ok`, `error` and
 * `status` at the top of `details`, so only `ok` (and `error` on failure) stand there.
 *
 * Parameters are plain JSON Schema (what TypeBox builds; the host validates them as such), so the
 * plugin needs no schema library at run time. Secrets are never parameters.
 */
import { errorOf, protectedStatusLines, type RestoreResult, type SyncStatus, type SyncSummary, type WorkspaceSync } from '../index.js'
import type { HostTool, HostToolContext, HostToolResult } from './host.js'

export const READ_ONLY_TOOLS = ['sync_status', 'sync_snapshots'] as const
export const REQUIRED_TOOLS = ['sync_status', 'sync_now', 'sync_snapshots'] as const
export const OPTIONAL_TOOLS = ['sync_restore', 'sync_undo'] as const
export const TOOL_NAMES = [...REQUIRED_TOOLS, ...OPTIONAL_TOOLS] as const
export type ToolName = (typeof TOOL_NAMES)[number]

const NO_PARAMETERS = { type: 'object', properties: {}, additionalProperties: false }

export const TOOL_PARAMETERS: Record<ToolName, Record<string, unknown>> = {
  sync_status: NO_PARAMETERS,
  sync_now: NO_PARAMETERS,
  sync_snapshots: {
    type: 'object',
    properties: {
      device: { type: 'string', description: 'Only the snapshots of this device.' },
      limit: { type: 'integer', minimum: 1, maximum: 500, description: 'At most this many, newest first (default 50).' },
    },
    additionalProperties: false,
  },
  sync_restore: {
    type: 'object',
    properties: {
      timestamp: { type: 'string', minLength: 1, description: 'Which snapshot: "latest", "latest~1", an ISO time ("2026-11-05T10:15") or an age ("2h", "3d"); the newest snapshot at or before it is restored.' },
      paths: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Only these workspace-relative paths (a folder means everything below it).' },
      in_place: { type: 'boolean', description: 'Overwrite the workspace (after a safety snapshot; undo with sync_undo). Default false: the snapshot is put in a staging folder and the differences are reported.' },
      device: { type: 'string', description: "Only this device's snapshots." },
    },
    required: ['timestamp'],
    additionalProperties: false,
  },
  sync_undo: {
    type: 'object',
    properties: {
      restore_id: { type: 'string', minLength: 1, description: 'The id an in-place sync_restore (or sync_undo) returned.' },
    },
    required: ['restore_id'],
    additionalProperties: false,
  },
}

const DESCRIPTIONS: Record<ToolName, string> = {
  sync_status: "Is the agent's memory backed up? When the last sync ran, where the backups go, what changed since, warnings.",
  sync_now: "Back up the agent's memory files now (an encrypted, deduplicated snapshot; nothing is written when nothing changed).",
  sync_snapshots: "List this agent's backup snapshots, newest first, with their time, device and what triggered them.",
  sync_restore: 'Restore memory files from a snapshot. By default into a staging folder, reporting what differs from the workspace; with in_place: true, over the workspace after a safety snapshot (asks the user first).',
  sync_undo: 'Undo an in-place restore: put the workspace back as it was just before it (asks the user first).',
}

const LABELS: Record<ToolName, string> = {
  sync_status: 'Backup status',
  sync_now: 'Back up now',
  sync_snapshots: 'Backup snapshots',
  sync_restore: 'Restore from backup',
  sync_undo: 'Undo restore',
}

/** What the tools need from the plugin: the agent's sync, and whether storage may be opened here. */
export interface ToolHost {
  /** Undefined outside the gateway's process, or before its load of the plugin (registrationMode "full", where secrets are resolved) or after it stopped. */
  syncFor(ctx: HostToolContext): WorkspaceSync | undefined
  /** Creates the repository when its location is empty (before the first sync). */
  ready(sync: WorkspaceSync): Promise<void>
  /** How the host loaded this copy of the plugin (its registrationMode), for messages. */
  loadMode?: string
}

type Params = Record<string, unknown>

/** Builds the five tools for one run's context. */
export function createTools(host: ToolHost, ctx: HostToolContext): HostTool[] {
  const run = (name: ToolName, body: (sync: WorkspaceSync, p: Params, signal?: AbortSignal) => Promise<{ text: string; sync: unknown }>): HostTool => ({
    name,
    label: LABELS[name],
    description: DESCRIPTIONS[name],
    parameters: TOOL_PARAMETERS[name],
    async execute(_toolCallId, params, signal) {
      const p = (params ?? {}) as Params
      let sync: WorkspaceSync | undefined
      try {
        sync = host.syncFor(ctx)
        if (!sync) return failure('NOT_IN_GATEWAY', `the backup storage is opened only inside the running gateway (this load of the plugin: "${host.loadMode ?? 'unknown'}")`)
        const out = await body(sync, p, signal)
        return { content: [{ type: 'text', text: out.text }], details: { ok: true, sync: out.sync } }
      } catch (e) {
        const err = e instanceof Refusal ? { code: e.code, message: e.message } : errorOf(e)
        return failure(err.code, err.message)
      }
    },
  })

  return [
    run('sync_status', async (sync) => {
      const status = await sync.status()
      return { text: describeStatus(status), sync: status }
    }),
    run('sync_now', async (sync, _p, signal) => {
      await host.ready(sync)
      const summary = await sync.syncNow({ trigger: 'manual', signal })
      return { text: describeSync(summary), sync: summary }
    }),
    run('sync_snapshots', async (sync, p) => {
      const limit = typeof p.limit === 'number' ? p.limit : 50
      const device = typeof p.device === 'string' ? p.device : undefined
      const all = await sync.snapshots({ device })
      const shown = all.slice(0, limit)
      const text = shown.length === 0 ? 'No snapshots yet.' : `${all.length} snapshot(s); newest: ${shown.map((s) => `${s.shortId} ${s.time} (${s.device}${s.trigger ? `, ${s.trigger}` : ''})`).slice(0, 5).join('; ')}`
      return { text, sync: { agent: sync.agent, total: all.length, snapshots: shown } }
    }),
    run('sync_restore', async (sync, p, signal) => {
      const inPlace = p.in_place === true
      if (inPlace && ctx.sandboxed) throw refusal('an in-place restore writes to the workspace, which a sandboxed run may not do; restore staged (without in_place) instead')
      const result = await sync.restore({
        timestamp: String(p.timestamp ?? ''),
        paths: Array.isArray(p.paths) ? p.paths.map(String) : undefined,
        inPlace,
        device: typeof p.device === 'string' ? p.device : undefined,
        signal,
      })
      return { text: describeRestore(result), sync: result }
    }),
    run('sync_undo', async (sync, p, signal) => {
      if (ctx.sandboxed) throw refusal('an undo writes to the workspace, which a sandboxed run may not do')
      const result = await sync.undo(String(p.restore_id ?? ''), { signal })
      return { text: describeRestore(result), sync: result }
    }),
  ]
}

function failure(code: string, message: string): HostToolResult {
  return { content: [{ type: 'text', text: `Failed (${code}): ${message}` }], details: { ok: false, error: message, sync: { error: { code, message } } } }
}

/** A call the plugin refuses by policy (not an error of the sync). */
class Refusal extends Error {
  readonly code = 'SANDBOXED'
}
const refusal = (message: string) => new Refusal(message)

function describeStatus(s: SyncStatus): string {
  if (!s.configured) return `Not configured: set "provider" (and its bucket or path) in the plugin config or session-sync-config.json in the workspace.`
  const last = s.lastSync ? `last sync ${s.lastSync.time} (${s.lastSync.result})` : 'no sync yet'
  const warn = s.warnings.length > 0 ? ` Warnings: ${s.warnings.join('; ')}` : ''
  const prot = s.protected ? ` ${protectedStatusLines(s).map((l) => l[0].toUpperCase() + l.slice(1)).join('. ')}.` : ''
  return `Backups go to ${s.location}; ${last}; storage ${s.storageReachable ? 'reachable' : 'not reachable'}.${prot}${warn}`
}

function describeSync(s: SyncSummary): string {
  if (s.result === 'unchanged') return `Nothing changed since snapshot ${s.snapshot?.slice(0, 8) ?? '(none)'}; nothing was uploaded.`
  return `Snapshot ${s.snapshot?.slice(0, 8)}: ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unchanged file(s); ${s.bytesUploaded} bytes uploaded.${s.errors.length > 0 ? ` ${s.errors.length} file(s) could not be read.` : ''}`
}

function describeRestore(r: RestoreResult): string {
  const diff = `${r.diff.added.length} added, ${r.diff.changed.length} changed, ${r.diff.removed.length} removed`
  if (!r.inPlace) return `Staged snapshot ${r.snapshot.slice(0, 8)} (${r.resolved}) in ${r.stagingDir}; against the workspace: ${diff}. Nothing in the workspace was changed.`
  return `Restored snapshot ${r.snapshot.slice(0, 8)} (${r.resolved}) in place: ${diff}. Undo with sync_undo restore_id "${r.id}".`
}
