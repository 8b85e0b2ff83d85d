/**
 * `session-sync dashboard`: serves the dashboard on 127.0.0.1 until SIGINT or SIGTERM. The first
 * line on stdout is the URL to open (it carries the token); nothing else goes to stdout. With the
 * global --repo (or --repository-file) instead of --workspace it shows a repository read-only.
 */
import { spawn } from 'node:child_process'
import type { Command } from 'commander'
import type { DashboardSource } from '../dashboard/index.js'
import { InvalidOptionsError, WorkspaceSync, type Repository } from '../index.js'
import { workspaceOf } from './sync.js'

export function registerDashboardCommand(program: Command, deps: { openRepo: () => Promise<Repository> }): void {
  program
    .command('dashboard')
    .description("browse an agent's memory over time in a browser: history, diffs, search, downloads, restore with undo (127.0.0.1 only)")
    .option('--workspace <dir>', "the agent's workspace (default: $OPENCLAW_WORKSPACE_DIR, else ~/.openclaw/workspace)")
    .option('--agent <id>', "the agent's id; snapshots are grouped by it (default main; with --repo: every snapshot)")
    .option('--port <n>', 'the port (0: a free one)', '0')
    .option('--open', 'open the URL in the default browser')
    .action(async (o: { workspace?: string; agent?: string; port: string; open?: boolean }) => {
      const port = Number(o.port)
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidOptionsError(`--port must be 0 to 65535, not ${o.port}`)
      const g = program.opts<{ repo?: string; repositoryFile?: string }>()
      const onRepo = g.repo !== undefined || g.repositoryFile !== undefined
      if (onRepo && o.workspace !== undefined) throw new InvalidOptionsError('give --workspace (an agent\'s workspace) or --repo (a repository, read-only), not both')
      // Loaded here: the server and its libraries (HTTP routing, diffs, zip) cost every other command's start.
      const { repositorySource, startDashboard } = await import('../dashboard/index.js')
      let sync: DashboardSource
      let close: () => Promise<void>
      if (onRepo) {
        const repo = await deps.openRepo()
        sync = repositorySource(repo, { agent: o.agent })
        close = () => repo.close()
      } else {
        const ws = WorkspaceSync.create({ workspace: workspaceOf(o), agent: o.agent ?? 'main' })
        for (const w of ws.configWarnings) process.stderr.write(`warning: ${w}\n`)
        sync = ws
        close = () => ws.close()
      }
      const d = await startDashboard({ sync, port })
      process.stdout.write(`${d.url}\n`)
      process.stderr.write(`session-sync dashboard: serving ${onRepo ? 'the repository, read-only,' : sync.workspace} on ${d.origin}; Ctrl-C stops it\n`)
      if (o.open) {
        const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open'
        const child = spawn(opener, [d.url], { detached: true, stdio: 'ignore' })
        child.on('error', () => process.stderr.write(`session-sync dashboard: could not start ${opener}; open the URL above\n`))
        child.unref()
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve())
        process.once('SIGTERM', () => resolve())
      })
      await d.close()
      await close().catch(() => {})
    })
}
