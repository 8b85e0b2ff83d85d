// dump: a file of a snapshot to stdout byte for byte; a folder (or the whole snapshot) as a tar
// archive that tar itself extracts to the same files, modes and links, long names included.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { unzipSync } from 'fflate'
import { cleanup, describeTree, fails, randomBytesSeeded, tempDir } from '../helpers.js'
import { CHEAP_KDF, CLI, PASSWORD, ROOT, baseEnv, cli, ok, requireBuilt } from './run.js'

let base: string
let repo: string
let src: string
const longDir = 'a-folder-with-a-rather-long-name-to-push-paths-past-one-hundred-bytes'
const longName = `${'x'.repeat(90)}-also-long.txt`

before(() => {
  requireBuilt()
  base = tempDir('cli-dump')
  repo = join(base, 'repo')
  src = join(base, 'ws')
  mkdirSync(join(src, 'memory', longDir), { recursive: true })
  writeFileSync(join(src, 'MEMORY.md'), '# memory\n')
  writeFileSync(join(src, 'memory', 'big.bin'), randomBytesSeeded(3_500_000, 7)) // several blobs
  writeFileSync(join(src, 'memory', 'empty'), '')
  writeFileSync(join(src, 'memory', 'ünïcode.md'), 'ü\n')
  writeFileSync(join(src, 'memory', longDir, longName), 'deep\n')
  chmodSync(join(src, 'memory', 'empty'), 0o600)
  symlinkSync('../MEMORY.md', join(src, 'memory', 'link'))
  ok(cli(['--repo', repo, 'init', ...CHEAP_KDF]))
  ok(cli(['--repo', repo, 'backup', src]))
})
after(cleanup)

function dump(args: string[]): Buffer {
  const r = spawnSync(process.execPath, [CLI, '--repo', repo, 'dump', ...args], { cwd: ROOT, env: { ...baseEnv(), ...PASSWORD }, maxBuffer: 64 * 1024 * 1024 })
  assert.equal(r.status, 0, r.stderr.toString())
  return r.stdout
}

/** Types, bytes, modes and link targets (tar keeps whole seconds only, so no times). */
function shape(dir: string) {
  return Object.fromEntries(Object.entries(describeTree(dir, false)).map(([k, v]) => [k, { ...v, mtimeUs: 0 }]))
}

function untar(archive: Buffer, label: string): string {
  const out = tempDir(label)
  const r = spawnSync('tar', ['-x', '-f', '-', '-C', out], { input: archive })
  assert.equal(r.status, 0, r.stderr.toString())
  return out
}

test('dump of a file writes its bytes, as ls names it or relative to the backed-up folder', () => {
  assert.ok(dump(['latest', 'ws/memory/big.bin']).equals(readFileSync(join(src, 'memory', 'big.bin'))))
  assert.ok(dump(['latest', '/ws/MEMORY.md']).equals(readFileSync(join(src, 'MEMORY.md'))))
  assert.ok(dump(['latest', 'memory/ünïcode.md']).equals(readFileSync(join(src, 'memory', 'ünïcode.md'))))
  assert.equal(dump(['latest', 'memory/empty']).length, 0)
  const target = join(base, 'out.bin')
  ok(cli(['--repo', repo, 'dump', 'latest', 'memory/big.bin', '--target', target]))
  assert.ok(readFileSync(target).equals(readFileSync(join(src, 'memory', 'big.bin'))))
})

test('dump of a folder is a tar archive that extracts to the same files, modes and links', () => {
  const out = untar(dump(['latest', 'memory']), 'cli-dump-folder')
  assert.deepEqual(shape(join(out, 'ws', 'memory')), shape(join(src, 'memory')))
  const all = untar(dump(['latest', '/']), 'cli-dump-all')
  assert.deepEqual(shape(join(all, 'ws')), shape(src))
  const listed = spawnSync('tar', ['-t', '-f', '-'], { input: dump(['latest', 'memory']) }).stdout.toString()
  assert.ok(listed.includes(`ws/memory/${longDir}/${longName}`), 'the long name is kept whole (PAX header)')
})

test('dump of a path not in the snapshot, or of a link, fails with what to do', () => {
  fails(cli(['--repo', repo, 'dump', 'latest', 'memory/nope.md']), /"memory\/nope\.md" is not in snapshot [0-9a-f]{8}; list its paths with "session-sync ls/)
  fails(cli(['--repo', repo, 'dump', 'latest', 'memory/link']), /is a symbolic link \(to \.\.\/MEMORY\.md\)/)
  fails(cli(['--repo', repo, '--json', 'dump', 'latest', 'MEMORY.md']), /leave out --json/)
})

test('dump --archive zip of a folder is a zip that unzip extracts to the same files, modes and links', (t) => {
  const archive = dump(['--archive', 'zip', 'latest', 'memory'])
  assert.equal(archive.subarray(0, 4).toString('latin1'), 'PK\x03\x04')
  // Read back by a second reader too: every file's bytes under its full name.
  const files = unzipSync(archive)
  assert.ok(Buffer.from(files[`ws/memory/${longDir}/${longName}`]).equals(readFileSync(join(src, 'memory', longDir, longName))))
  assert.ok(Buffer.from(files['ws/memory/big.bin']).equals(readFileSync(join(src, 'memory', 'big.bin'))))
  if (spawnSync('unzip', ['-v']).status !== 0) return t.skip('unzip is not installed: modes and links not checked')
  const out = tempDir('cli-dump-zip')
  writeFileSync(join(base, 'memory.zip'), archive)
  const r = spawnSync('unzip', ['-q', join(base, 'memory.zip'), '-d', out])
  assert.equal(r.status, 0, r.stderr.toString())
  assert.deepEqual(shape(join(out, 'ws', 'memory')), shape(join(src, 'memory')))
})

test('dump --archive of an unknown format is refused before anything is written', () => {
  const r = cli(['--repo', repo, 'dump', '--archive', 'rar', 'latest', 'memory'])
  fails(r, /--archive rar is not known: give tar or zip/)
  assert.equal(r.stdout.length, 0)
})
