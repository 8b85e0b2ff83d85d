// Backs up one folder into a local repository, creating the repository on first use.
//
//   node examples/backup-folder.mjs <folder>
//
// SESSION_SYNC_REPOSITORY: the repository folder (default ./example-repo)
// SESSION_SYNC_PASSWORD:   its password. The default below is for trying the example only: real use
//                          must never hard-code a password; take it from the environment or a vault.
import { resolve } from 'node:path'
import { LocalBackend, Repository } from 'session-sync-cloud'

const location = resolve(process.env.SESSION_SYNC_REPOSITORY || './example-repo')
const password = process.env.SESSION_SYNC_PASSWORD || 'example password'
const folder = process.argv[2]

try {
  if (!folder) throw new Error('usage: node backup-folder.mjs <folder>')
  const backend = new LocalBackend(location)
  let repo
  try {
    repo = await Repository.open({ backend, password })
  } catch (e) {
    // Library errors carry a stable `code`; anything else (a wrong password…) is passed on.
    if (e.code !== 'NOT_A_REPOSITORY') throw e
    repo = await Repository.init({ backend, password })
    console.log(`created repository ${repo.id.slice(0, 10)} at ${location}`)
  }
  const summary = await repo.backup([folder], {
    // Called now and then while files are read, and once at the end.
    onProgress: (p) => process.stderr.write(`\r${p.filesDone}/${p.totalFiles} files, ${p.bytesDone}/${p.totalBytes} bytes`),
  })
  process.stderr.write('\n')
  for (const issue of summary.errors) console.error(`skipped ${issue.path}: ${issue.message}`)
  console.log(`snapshot ${summary.snapshotId.slice(0, 8)} saved: ${summary.filesNew} new, ${summary.filesChanged} changed, ${summary.filesUnmodified} unmodified files, ${summary.bytesAdded} bytes added`)
  await repo.close()
} catch (e) {
  console.error(`backup failed: ${e.message}`)
  process.exitCode = 1
}
