// Restores one file or folder from the latest snapshot into a target folder.
//
//   node examples/restore-file.mjs <path in the snapshot> [target folder]
//
// Paths in a snapshot start with the name of the folder that was backed up, e.g. `docs/notes.md`
// for /home/me/docs/notes.md (`session-sync ls latest` shows them). The target defaults to
// ./restored. SESSION_SYNC_REPOSITORY and SESSION_SYNC_PASSWORD as in backup-folder.mjs (the
// default password is for trying the example only: real use must never hard-code one).
import { resolve } from 'node:path'
import { LocalBackend, Repository } from 'session-sync-cloud'

const location = resolve(process.env.SESSION_SYNC_REPOSITORY || './example-repo')
const password = process.env.SESSION_SYNC_PASSWORD || 'example password'
const [path, target = './restored'] = process.argv.slice(2)

try {
  if (!path) throw new Error('usage: node restore-file.mjs <path in the snapshot> [target folder]')
  const repo = await Repository.open({ backend: new LocalBackend(location), password })
  // `include` takes globs; a plain path matches itself (and everything below it, for a folder).
  const summary = await repo.restore('latest', target, { include: [path] })
  if (summary.filesRestored + summary.symlinksRestored + summary.dirsRestored === 0) {
    throw new Error(`"${path}" is not in snapshot ${summary.snapshotId.slice(0, 8)}`)
  }
  console.log(`restored ${path} from snapshot ${summary.snapshotId.slice(0, 8)} into ${resolve(target)}: ${summary.filesRestored} files, ${summary.bytesRestored} bytes`)
  await repo.close()
} catch (e) {
  console.error(`restore failed: ${e.message}`)
  process.exitCode = 1
}
