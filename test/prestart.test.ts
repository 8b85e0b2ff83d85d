// Workers started ahead (prestartWorkers, while a password's key derives) are taken by the next
// restore or check that starts workers, loaded and waiting; one that is never taken does not keep
// the process alive.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { prestartWorkers } from '../src/index.js'
import { sparesWaiting } from '../src/runtime/worker.js'
import { cleanup, memoryRepo, randomBytesSeeded, tempDir } from './helpers.js'

after(cleanup)

async function repoWithFiles(): Promise<{ repo: Awaited<ReturnType<typeof memoryRepo>>['repo']; src: string }> {
  const { repo } = await memoryRepo()
  const src = join(tempDir('prestart'), 'memory')
  mkdirSync(src, { recursive: true })
  for (let i = 0; i < 12; i++) writeFileSync(join(src, `${i}.md`), randomBytesSeeded(20_000 + i, i))
  await repo.backup([src])
  return { repo, src }
}

test('a restore takes the workers started ahead, and restores what a restore without them does', async () => {
  const { repo, src } = await repoWithFiles()
  assert.equal(sparesWaiting(), 0)
  prestartWorkers('restore')
  const started = sparesWaiting()
  assert.ok(started >= 1, 'at least one worker started ahead')
  const out = tempDir('prestart-out')
  const s = await repo.restore('latest', out, { threads: started })
  assert.equal(sparesWaiting(), 0, 'the restore took every worker started ahead')
  assert.equal(s.errors.length, 0)
  for (let i = 0; i < 12; i++) assert.deepEqual(readFileSync(join(out, 'memory', `${i}.md`)), readFileSync(join(src, `${i}.md`)))
  // And the next one starts workers of its own.
  const out2 = tempDir('prestart-out')
  await repo.restore('latest', out2, { threads: 1 })
  assert.deepEqual(readFileSync(join(out2, 'memory', '3.md')), readFileSync(join(src, '3.md')))
})

test('a check that reads data takes them too, and finds the repository intact', async () => {
  const { repo } = await repoWithFiles()
  prestartWorkers('check')
  const started = sparesWaiting()
  assert.ok(started >= 1)
  const report = await repo.check({ readData: true, threads: started })
  assert.ok(report.ok, JSON.stringify(report.problems))
  assert.ok(report.counts.packsRead > 0)
  assert.equal(sparesWaiting(), 0)
})

test('an operation other than restore or check is refused', () => {
  assert.throws(() => prestartWorkers('backup' as 'check'), { code: 'INVALID_OPTIONS' })
})

test('workers started ahead and never taken do not keep the process alive', () => {
  const helpers = fileURLToPath(new URL('../src/index.ts', import.meta.url))
  const code = `import(${JSON.stringify(helpers)}).then((m) => { m.prestartWorkers('check'); console.log('started') })`
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /started/)
})
