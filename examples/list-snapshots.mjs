// Lists the snapshots of a local repository, oldest first, one line each.
//
//   node examples/list-snapshots.mjs
//
// SESSION_SYNC_REPOSITORY: the repository folder (default ./example-repo)
// SESSION_SYNC_PASSWORD:   its password (the default is for trying the example only: real use must
//                          never hard-code a password).
import { resolve } from 'node:path'
import { LocalBackend, Repository } from 'session-sync-cloud'

const location = resolve(process.env.SESSION_SYNC_REPOSITORY || './example-repo')
const password = process.env.SESSION_SYNC_PASSWORD || 'example password'

try {
  const repo = await Repository.open({ backend: new LocalBackend(location), password })
  const snapshots = await repo.snapshots()
  for (const s of snapshots) {
    const files = s.summary ? `${s.summary.totalFiles} files` : ''
    console.log(`${s.shortId}  ${s.time.toISOString()}  ${s.host}  ${s.paths.join(', ')}  ${files}`)
  }
  if (snapshots.length === 0) console.error(`no snapshots in ${location} yet`)
  await repo.close()
} catch (e) {
  // e.code tells what went wrong: WRONG_PASSWORD, NOT_A_REPOSITORY, …
  console.error(`listing snapshots failed: ${e.message}`)
  process.exitCode = 1
}
