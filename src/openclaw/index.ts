/**
 * The OpenClaw plugin entry (package.json `openclaw.extensions` → dist/openclaw.js), built as its
 * own bundle. Its nouns:
 * - Tools: sync_status, sync_now, sync_snapshots, sync_restore, sync_undo (tools.ts).
 * - Schedule: a service that runs every configured agent's WorkspaceSync schedule while the
 *   gateway runs (plugin.ts).
 * - Triggers: hooks that ask for a sync after a reset, a compaction or /wrap_up (triggers.ts).
 * - Agent syncs: one WorkspaceSync per agent workspace (agents.ts).
 *
 * The two `openclaw/plugin-sdk/*` imports are resolved by the host's plugin loader from the host
 * itself; they are not dependencies of this package.
 */
import { listAgentIds } from 'openclaw/plugin-sdk/agent-scope-runtime'
import { definePluginEntry } from 'openclaw/plugin-sdk/plugin-entry'
import type { HostApi } from './host.js'
import { PLUGIN_ID, registerSessionSync } from './plugin.js'

export default definePluginEntry({
  id: PLUGIN_ID,
  name: 'Session Sync Cloud',
  description: "Encrypted, deduplicated backups of the agent's memory to S3-compatible storage or a folder.",
  register(api: HostApi) {
    registerSessionSync(api, { listAgentIds })
  },
})
