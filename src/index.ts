/**
 * session-sync-cloud: encrypted, deduplicating, content-addressed backup for Node.js.
 *
 * ```ts
 * import { Repository, LocalBackend } from 'session-sync-cloud'
 * const repo = await Repository.init({ backend: new LocalBackend('/backups/repo'), password: 'secret' })
 * const summary = await repo.backup(['/home/me/memory'])
 * for (const s of await repo.snapshots()) console.log(s.shortId, s.time)
 * await repo.restore('latest', '/tmp/restored')
 * ```
 *
 * The agent-memory sync built on it (config, scope, schedule, log, retention, restore with undo)
 * is `WorkspaceSync`.
 */
export * from './library.js'
export * from './sync/index.js'
