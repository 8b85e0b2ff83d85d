// A real backup and restore on the embedded default (a local repository), through the CLI:
// init → backup this project's src/ → change a file → back up again → list → restore → compare.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, appendFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const cli = join(root, 'dist', 'cli.js')
const work = mkdtempSync(join(tmpdir(), 'session-sync-demo-'))
const repo = join(work, 'repo')
const source = join(work, 'memory')
cpSync(join(root, 'src'), source, { recursive: true })
const env = { ...process.env, SESSION_SYNC_REPOSITORY: repo, SESSION_SYNC_PASSWORD: 'demo password' }
const run = (...args) => {
  console.log(`\n$ session-sync ${args.join(' ')}`)
  const out = execFileSync(process.execPath, [cli, ...args], { env, encoding: 'utf8' })
  process.stdout.write(out)
  return out
}

run('init')
run('backup', source)
appendFileSync(join(source, 'index.ts'), '\n// an edit between two backups\n')
run('backup', source)
run('snapshots')
run('restore', 'latest', '--target', join(work, 'restored'))
const a = readFileSync(join(source, 'index.ts'))
const b = readFileSync(join(work, 'restored', 'memory', 'index.ts'))
if (!a.equals(b)) throw new Error('restored file differs from the source')
console.log(`\nrestored files match the source (repository in ${repo}, kept for a look; remove it with: rm -rf ${work})`)
if (process.argv.includes('--clean')) rmSync(work, { recursive: true, force: true })
