// The product's story on the embedded default (a local repository), through the CLI a user runs:
// an agent's workspace is set up and synced, synced again with nothing changed (nothing written),
// edited, its status shown, a staged restore compared with it, yesterday's note restored in place,
// and that restore undone. Everything lives in one temporary folder, state folder included.
//
//   node scripts/demo.mjs [--clean]      (npm run demo builds first)
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const cli = join(root, 'dist', 'cli.js')
const work = mkdtempSync(join(tmpdir(), 'session-sync-demo-'))
const workspace = join(work, 'workspace')
const env = { ...process.env, SESSION_SYNC_STATE_DIR: join(work, 'state'), OPENCLAW_WORKSPACE_DIR: workspace }
for (const k of ['SESSION_SYNC_KEY', 'SESSION_SYNC_PASSWORD', 'SESSION_SYNC_REPOSITORY']) delete env[k]

const run = (...args) => {
  console.log(`\n$ session-sync ${args.join(' ')}`)
  const out = execFileSync(process.execPath, [cli, ...args], { env, encoding: 'utf8' })
  process.stdout.write(out)
  return out
}
const json = (...args) => JSON.parse(execFileSync(process.execPath, [cli, '--json', ...args], { env, encoding: 'utf8' }))

// An agent's workspace as OpenClaw lays it out, with files that are never backed up.
mkdirSync(join(workspace, 'memory'), { recursive: true })
mkdirSync(join(workspace, 'skills', 'weather'), { recursive: true })
writeFileSync(join(workspace, 'MEMORY.md'), '# Memory\n- The user prefers short answers.\n- Project: the garden planner.\n')
writeFileSync(join(workspace, 'SOUL.md'), 'Calm, precise, kind.\n')
writeFileSync(join(workspace, 'memory', '2026-12-04.md'), '# 2026-12-04\n- Planned the tomato beds.\n')
writeFileSync(join(workspace, 'skills', 'weather', 'SKILL.md'), '---\nname: weather\ndescription: the forecast\n---\n')
writeFileSync(join(workspace, '.env'), 'API_TOKEN=never-backed-up\n')

run('sync', 'init', '--provider', 'local', '--path', join(work, 'backups'))
run('sync', 'now')
run('sync', 'now') // nothing changed: nothing is written, no snapshot

writeFileSync(join(workspace, 'memory', '2026-12-05.md'), '# 2026-12-05\n- Ordered seeds.\n')
writeFileSync(join(workspace, 'memory', '2026-12-04.md'), '# 2026-12-04\n- (overwritten by mistake)\n')
run('sync', 'status')
run('sync', 'now')

run('sync', 'restore', 'latest~1')
const restore = json('sync', 'restore', 'latest~1', '--in-place', '--path', 'memory/2026-12-04.md')
console.log(`\n$ session-sync sync restore latest~1 --in-place --path memory/2026-12-04.md\nrestored in place (undo with: session-sync sync undo ${restore.id})`)
const back = readFileSync(join(workspace, 'memory', '2026-12-04.md'), 'utf8')
if (!back.includes('tomato')) throw new Error('the in-place restore did not bring the note back')
console.log(back.trimEnd())

run('sync', 'undo', restore.id)
if (!readFileSync(join(workspace, 'memory', '2026-12-04.md'), 'utf8').includes('overwritten')) throw new Error('the undo did not put the workspace back')
run('sync', 'log', '--limit', '8')

if (process.argv.includes('--clean')) rmSync(work, { recursive: true, force: true })
else console.log(`\nThe workspace, the repository and the state folder are in ${work} (kept for a look; remove them with: rm -rf ${work})`)
