/**
 * One WorkspaceSync per agent, shared by the tools, the hooks, the command and the schedule.
 *
 * Agents on one gateway never share a history: each has its own workspace (OpenClaw's
 * `resolveAgentWorkspaceDir`) and its own agent id, which WorkspaceSync records in every snapshot
 * and filters by. The plugin's config is passed to every one of them; each workspace's
 * session-sync-config.json fills in what the plugin config leaves out.
 */
import { WorkspaceSync } from '../index.js'
import type { HostApi } from './host.js'

export const DEFAULT_AGENT = 'main'

export class AgentSyncs {
  private readonly syncs = new Map<string, WorkspaceSync>()
  private readonly readying = new Map<WorkspaceSync, Promise<void>>()

  constructor(
    private readonly api: Pick<HostApi, 'config' | 'pluginConfig' | 'runtime'>,
    private readonly env: () => NodeJS.ProcessEnv,
    /** The agent's OpenClaw database, for "transcripts": true. */
    private readonly agentDatabase: (agentId: string) => string | undefined = () => undefined,
  ) {}

  /** The agent's workspace folder as OpenClaw resolves it (the tool context's, when it has one). */
  workspaceOf(agentId: string, given?: string): string {
    return given ?? this.api.runtime.agent.resolveAgentWorkspaceDir(this.api.config as never, agentId)
  }

  /** The agent's sync, made on first use; throws what WorkspaceSync.create throws (a config error…). */
  get(agentId: string = DEFAULT_AGENT, workspace?: string): WorkspaceSync {
    const dir = this.workspaceOf(agentId, workspace)
    const key = `${agentId}\0${dir}`
    let sync = this.syncs.get(key)
    if (!sync) {
      sync = WorkspaceSync.create({ workspace: dir, agent: agentId, pluginConfig: this.api.pluginConfig ?? {}, env: this.env(), transcriptsDatabase: this.agentDatabase(agentId) })
      this.syncs.set(key, sync)
    }
    return sync
  }

  /**
   * Makes sure the agent's repository exists: an empty location gets one (with a generated key kept
   * in the state folder unless the config or the environment gives one), so configuring a bucket
   * is enough to start backing up. An existing repository is only opened.
   */
  ready(sync: WorkspaceSync): Promise<void> {
    // Calls at the same time share one attempt: the catch-up sync at start and a tool call racing
    // to create the same repository would otherwise collide on its config file.
    let pending = this.readying.get(sync)
    if (!pending) {
      pending = openOrCreate(sync).finally(() => this.readying.delete(sync))
      this.readying.set(sync, pending)
    }
    return pending
  }

  all(): WorkspaceSync[] {
    return [...this.syncs.values()]
  }

  /** Stops every schedule and closes every repository (the gateway is stopping). */
  async stopAll(): Promise<void> {
    const syncs = this.all()
    this.syncs.clear()
    await Promise.allSettled(syncs.map((s) => s.stop()))
  }
}

async function openOrCreate(sync: WorkspaceSync): Promise<void> {
  try {
    await sync.repository()
  } catch (e) {
    // No repository there yet: create it. No key given: init creates one when the location holds
    // no repository, and otherwise says the existing one needs its key (it never makes a new key for it).
    const code = (e as { code?: string }).code
    if (code !== 'NOT_A_REPOSITORY' && code !== 'KEY_MISSING') throw e
    await sync.init()
  }
}
