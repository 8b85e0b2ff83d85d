// What a process pays before its first operation: loading the library and the CLI. Every backup,
// restore and check pays it once, and on a tree of small files it is a large share of the whole.
// The built package (dist/, npm test builds it) is what users load, so that is what is looked at.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'

const dist = join(import.meta.dirname, '..', 'dist')

/**
 * The modules a file of the bundle loads statically (at load, not through import()), with those of
 * the bundle's own chunks it loads, followed to the end.
 */
function staticImports(file: string, seen = new Set<string>()): string[] {
  const text = readFileSync(join(dist, file), 'utf8')
  for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s*"([^"]+)"|^import\s*"([^"]+)"/gm)) {
    const spec = (m[1] ?? m[2])!
    if (seen.has(spec)) continue
    seen.add(spec)
    if (spec.startsWith('./')) staticImports(spec.slice(2), seen)
  }
  return [...seen]
}

/** Node's own modules a process has loaded after importing `specifier`, by their internal names. */
function builtinsAfterImport(specifier: string): string[] {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(process.moduleLoadList))`], { encoding: 'utf8' })
  return JSON.parse(out) as string[]
}

describe('start-up', () => {
  it('importing the library loads neither HTTP (nor, through its ESM view, the bundled fetch stack) nor the zip writer', () => {
    const loaded = builtinsAfterImport(join(dist, 'index.js'))
    assert.ok(loaded.length > 0)
    // node:http's ESM view reads its WebSocket export, which loads undici: 60-75 ms on Node 24.
    assert.deepEqual(loaded.filter((m) => /undici|^NativeModule (http|https|_http_\w+)$/.test(m)), [])
    const imports = staticImports('index.js')
    assert.ok(imports.includes('node:crypto') || imports.includes('crypto'), `the scan finds the bundle's imports: ${imports.join(', ')}`)
    for (const lazy of ['http', 'node:http', 'https', 'node:https', 'fflate', '@aws-sdk/client-s3']) assert.ok(!imports.includes(lazy), `dist/index.js imports ${lazy} at load`)
  })

  it("the CLI's commands load the dashboard's server and its libraries only for the dashboard", () => {
    const main = readdirSync(dist).find((f) => /^main-.*\.js$/.test(f))
    assert.ok(main, 'the CLI is built')
    const imports = staticImports(main)
    assert.ok(imports.includes('commander'), `the scan finds the CLI's imports: ${imports.join(', ')}`)
    for (const lazy of ['hono', 'diff', 'fflate', 'http', 'node:http']) assert.ok(!imports.includes(lazy), `the CLI imports ${lazy} at load`)
  })

  it("the CLI's process keeps V8's young generation at its first size, and the library leaves its host's alone", () => {
    // A hook that runs in the CLI's process after the command: it keeps many objects alive (which
    // makes V8 grow the young generation where it may) and says how large the young generation is.
    const hook = `data:text/javascript,${encodeURIComponent(`
      import v8 from 'node:v8'
      process.on('exit', () => {
        const keep = []
        for (let i = 0; i < 400000; i++) keep.push({ i, s: 'x' + i })
        const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')
        process.stderr.write('young ' + young.space_size + ' ' + keep.length + '\\n')
      })`)}`
    const youngAfter = (args: string[]) => {
      const env = { ...process.env }
      delete env.NODE_OPTIONS // a V8 setting of the caller's would decide both figures
      const r = spawnSync(process.execPath, ['--import', hook, ...args], { encoding: 'utf8', env })
      const m = /young (\d+) 400000/.exec(r.stderr)
      assert.ok(m, `no figure from ${args.join(' ')}: ${r.stderr}`)
      return Number(m[1])
    }
    const cli = youngAfter([join(dist, 'cli.js'), '--version'])
    const library = youngAfter(['--input-type=module', '-e', `await import(${JSON.stringify(join(dist, 'index.js'))})`])
    assert.ok(cli <= 4 * 1024 * 1024, `the CLI's young generation grew to ${cli} bytes`)
    assert.ok(library > cli, `the library's host: ${library} bytes, against the CLI's ${cli}`)
  })
})
