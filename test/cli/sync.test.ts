// `session-sync sync …` driven as a user would: the built CLI (dist/cli.js) in real processes, a
// workspace and a local repository in a temporary folder, HOME and the state folder there too, and
// stdin that is not a terminal. `npm test` builds before it tests.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { cleanup, fails, randomBytesSeeded, tempDir } from '../helpers.js'
import { WorkspaceSync } from '../../src/index.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = join(ROOT, 'dist', 'cli.js')
/** Every wait in these tests is bounded by this. */
const DEADLINE_MS = 20_000

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

/** A workspace with memory, its state folder and HOME in one temporary folder, and a repository beside them. */
interface Site {
  root: string
  ws: string
  repo: string
  state: string
  env: Record<string, string>
  /** Runs `session-sync <args> --workspace <ws>`. */
  run(args: string[], extraEnv?: Record<string, string>): Run
}

/** The environment of this process without any SESSION_SYNC_*, OPENCLAW_* or AWS_* variable. */
function baseEnv(): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^(SESSION_SYNC_|OPENCLAW_|AWS_)/.test(k)) base[k] = v
  return base
}

function cli(args: string[], env: Record<string, string>): Run {
  // input: '' gives the child a pipe for stdin, so it is never a terminal (nothing is asked).
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...baseEnv(), ...env }, input: '', encoding: 'utf8', timeout: DEADLINE_MS })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function site(label: string, opts: { repo?: string } = {}): Site {
  const root = tempDir(`sync-cli-${label}`)
  const ws = join(root, 'workspace')
  mkdirSync(join(ws, 'memory'), { recursive: true })
  writeFileSync(join(ws, 'MEMORY.md'), '# Memory\n- the user likes tea\n')
  writeFileSync(join(ws, 'memory', '2026-12-01.md'), 'first day\n')
  writeFileSync(join(ws, 'memory', '2026-12-02.md'), 'second day\n')
  writeFileSync(join(ws, 'memory', '.env'), 'TOKEN=hunter2\n')
  const state = join(root, 'state')
  const env = { HOME: root, SESSION_SYNC_STATE_DIR: state }
  const s: Site = { root, ws: realpathSync(ws), repo: opts.repo ?? join(root, 'repo'), state, env, run: (args, extra = {}) => cli([...args, '--workspace', ws], { ...env, ...extra }) }
  return s
}

function ok(r: Run): Run {
  assert.equal(r.status, 0, `expected success, got exit ${r.status}; stdout: ${r.stdout}; stderr: ${r.stderr}`)
  return r
}

/** Exactly one JSON value on stdout (JSON.parse refuses anything more), on one line. */
function json<T = any>(r: Run, status = 0): T {
  assert.equal(r.status, status, `expected exit ${status}, got ${r.status}; stderr: ${r.stderr}`)
  assert.ok(r.stdout.endsWith('\n') && r.stdout.indexOf('\n') === r.stdout.length - 1, `one line of JSON expected on stdout, got: ${JSON.stringify(r.stdout)}`)
  return JSON.parse(r.stdout) as T
}

/** `sync init --provider local --path <repo>`, human-readable. */
function init(s: Site): Run {
  return ok(s.run(['sync', 'init', '--provider', 'local', '--path', s.repo]))
}

/** The workspace's state folder (the only one under the state root in these tests). */
function stateDirOf(s: Site): string {
  const names = readdirSync(join(s.state, 'workspaces'))
  assert.equal(names.length, 1, `one workspace state folder expected, got ${names.join(', ')}`)
  return join(s.state, 'workspaces', names[0])
}

function setConfig(s: Site, change: Record<string, unknown>): void {
  const file = join(s.ws, 'session-sync-config.json')
  writeFileSync(file, `${JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), ...change }, null, 2)}\n`)
}

/** Polls `check` until it returns a value (not undefined), for at most DEADLINE_MS. */
async function waitFor<T>(what: string, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS
  for (;;) {
    const v = check()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${DEADLINE_MS / 1000} s waiting for ${what}`)
    await sleep(50)
  }
}

/** A running `session-sync --json sync daemon`: its events (JSON lines on stdout) and its exit. */
interface Daemon {
  child: ChildProcess
  events: Array<Record<string, any>>
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

function startDaemon(s: Site): Daemon {
  const child = spawn(process.execPath, [CLI, '--json', 'sync', 'daemon', '--workspace', s.ws], { cwd: ROOT, env: { ...baseEnv(), ...s.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const events: Array<Record<string, any>> = []
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
    for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n')) {
      events.push(JSON.parse(out.slice(0, i)))
      out = out.slice(i + 1)
    }
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => child.on('exit', (code, signal) => resolveExit({ code, signal })))
  daemons.push(child)
  return { child, events, stderr: () => err, exited }
}

const daemons: ChildProcess[] = []

before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it first with "npx tsup" (npm test builds before it tests)`)
})
after(() => {
  // A failed assertion must not leave a daemon running.
  for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL')
  cleanup()
})

test('sync init without a provider and no terminal names the flags to give; a provider missing a field names its flag', () => {
  const s = site('noprovider')
  fails(s.run(['sync', 'init']), /no provider is configured for .*--provider local --path/)
  fails(s.run(['sync', 'init', '--provider', 'backblaze', '--bucket', 'b']), /provider "backblaze" also needs --region/)
  assert.ok(!existsSync(join(s.ws, 'session-sync-config.json')), 'nothing is written when the config would be incomplete')
  const e = json(s.run(['--json', 'sync', 'init']), 1)
  assert.equal(e.error.code, 'INVALID_OPTIONS')
  assert.match(e.error.message, /--provider/)
})

test('sync init on a fresh location writes a readable config without secrets, keeps the key 0600 and says once to keep a copy', () => {
  const s = site('init')
  const r = init(s)
  assert.match(r.stdout, /created a repository in the local folder /)
  assert.match(r.stdout, /The repository key is kept in .*\.key/)
  assert.match(r.stdout, /Without this key the backups cannot be read/)
  assert.match(r.stdout, /Keep a copy off this machine.*session-sync sync key --show/)
  assert.match(r.stdout, /session-sync sync key add-password/)

  const config = readFileSync(join(s.ws, 'session-sync-config.json'), 'utf8')
  assert.equal(config, `${JSON.stringify({ provider: 'local', path: s.repo }, null, 2)}\n`)
  const keys = readdirSync(join(s.state, 'keys'))
  assert.equal(keys.length, 1)
  const keyFile = join(s.state, 'keys', keys[0])
  assert.equal(lstatSync(keyFile).mode & 0o777, 0o600)
  assert.ok(!config.includes(readFileSync(keyFile, 'utf8').trim()), 'the key is not in the workspace config')

  // Again on the same location: the repository is opened, no new key, no message about it.
  const again = json(s.run(['--json', 'sync', 'init']))
  assert.equal(again.created, false)
  assert.equal(again.keySource, 'state folder')
  assert.deepEqual(readdirSync(join(s.state, 'keys')), keys)

  // A flag given to an existing config is merged in; its comments stay.
  writeFileSync(join(s.ws, 'session-sync-config.json'), `// backups of this agent\n${config}`)
  ok(s.run(['sync', 'init', '--path', s.repo]))
  assert.match(readFileSync(join(s.ws, 'session-sync-config.json'), 'utf8'), /^\/\/ backups of this agent\n/)
})

test('sync now twice: the second says nothing changed; --json prints one value; status, log and key --show', () => {
  const s = site('now')
  init(s)
  const first = ok(s.run(['sync', 'now']))
  assert.match(first.stdout, /^snapshot [0-9a-f]{8} saved \(manual\)$/m)
  assert.match(first.stdout, /^files: +3 new, 0 changed, 0 unchanged$/m)
  assert.match(first.stdout, /^uploaded: /m)
  assert.match(first.stdout, /^took: +\d+\.\d\d s$/m)
  const second = ok(s.run(['sync', 'now']))
  assert.match(second.stdout, /^nothing changed since snapshot [0-9a-f]{8}: nothing was written/m)

  const third = json(s.run(['--json', 'sync', 'now', '--trigger', 'wrap-up']))
  assert.equal(third.result, 'unchanged')
  assert.equal(third.trigger, 'wrap-up')
  writeFileSync(join(s.ws, 'memory', '2026-12-03.md'), 'third day\n')
  const fourth = json(s.run(['--json', 'sync', 'now']))
  assert.equal(fourth.result, 'ok')
  assert.equal(fourth.filesNew, 1)
  assert.match(fourth.snapshot, /^[0-9a-f]{64}$/)

  writeFileSync(join(s.ws, 'MEMORY.md'), '# Memory\n- the user likes green tea\n')
  const st = json(s.run(['--json', 'sync', 'status']))
  assert.equal(st.configured, true)
  assert.equal(st.enabled, true)
  assert.equal(st.workspace, s.ws)
  assert.equal(st.agent, 'main')
  assert.match(st.location, /local folder .*repo/)
  assert.equal(st.lastSync.result, 'ok')
  assert.equal(st.lastSync.snapshot, fourth.snapshot)
  assert.deepEqual(st.snapshotsPerDevice, { [st.device]: 2 })
  assert.equal(st.storageReachable, true)
  assert.ok(st.storedBytes > 0)
  assert.deepEqual(st.changedSinceLastSnapshot, { new: [], changed: ['MEMORY.md'], removed: [] })
  assert.deepEqual(st.secretsSkipped, ['memory/.env'])
  assert.ok(st.warnings.some((w: string) => /keep a copy elsewhere/.test(w)))
  assert.deepEqual(st.schedule, { running: false })

  const human = ok(s.run(['sync', 'status']))
  assert.match(human.stdout, /^last sync: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d, manual, ok, snapshot [0-9a-f]{8}$/m)
  assert.match(human.stdout, /^snapshots: +2 from /m)
  assert.match(human.stdout, /^changed since the last snapshot: 0 new, 1 changed, 0 removed \(MEMORY\.md\)$/m)
  assert.match(human.stdout, /^storage: +reachable$/m)
  assert.match(human.stdout, /^warning: the repository key exists only on this machine/m)

  const log = ok(s.run(['sync', 'log', '--limit', '3'])).stdout.trim().split('\n')
  assert.equal(log.length, 3)
  assert.match(log[0], /^\S+ \S+ +sync +manual +ok +[0-9a-f]{8} +1 new, 0 changed, 3 unchanged/, 'newest first')
  assert.match(log[1], /sync +wrap-up +unchanged/)
  const logJson = json(s.run(['--json', 'sync', 'log', '--limit', '2']))
  assert.equal(logJson.length, 2)
  assert.equal(logJson[0].snapshot, fourth.snapshot)

  const snaps = json(s.run(['--json', 'sync', 'snapshots']))
  assert.equal(snaps.length, 2)
  assert.equal(snaps[0].id, fourth.snapshot, 'newest first')
  assert.equal(snaps[0].device, st.device)
  assert.equal(snaps[0].trigger, 'manual')
  const snapLines = ok(s.run(['sync', 'snapshots', '--limit', '1'])).stdout.trim().split('\n')
  assert.equal(snapLines.length, 1)
  assert.match(snapLines[0], new RegExp(`^${fourth.snapshot.slice(0, 8)}  \\d{4}-.* ${st.device}  manual +\\d+ files, `))
  assert.deepEqual(json(s.run(['--json', 'sync', 'snapshots', '--device', 'elsewhere'])), [])

  const shown = ok(s.run(['sync', 'key', '--show'])).stdout
  const keyFile = join(s.state, 'keys', readdirSync(join(s.state, 'keys'))[0])
  assert.equal(shown, readFileSync(keyFile, 'utf8'))
  ok(s.run(['sync', 'key', '--confirm-saved']))
  assert.ok(!json(s.run(['--json', 'sync', 'status'])).warnings.some((w: string) => /keep a copy elsewhere/.test(w)))
})

test('sync restore stages by default; --in-place restores and "sync undo" puts the workspace back', () => {
  const s = site('restore')
  init(s)
  const before = json(s.run(['--json', 'sync', 'now'])).snapshot
  writeFileSync(join(s.ws, 'MEMORY.md'), '# Memory\n- the user likes coffee now\n')
  writeFileSync(join(s.ws, 'memory', '2026-12-03.md'), 'third day\n')
  ok(s.run(['sync', 'now']))

  const staged = ok(s.run(['sync', 'restore', 'latest~1']))
  assert.match(staged.stdout, new RegExp(`^staged: 2nd newest snapshot \\(latest~1\\): ${before.slice(0, 8)} from `, 'm'))
  const folder = /^staging folder: (.+)$/m.exec(staged.stdout)![1]
  assert.equal(readFileSync(join(folder, 'MEMORY.md'), 'utf8'), '# Memory\n- the user likes tea\n')
  assert.match(staged.stdout, /^added: 0\nchanged: 1\n  MEMORY\.md\nremoved: 1\n  memory\/2026-12-03\.md\nunchanged: 2\n/m)
  assert.equal(readFileSync(join(s.ws, 'MEMORY.md'), 'utf8'), '# Memory\n- the user likes coffee now\n', 'a staged restore leaves the workspace alone')

  const one = json(s.run(['--json', 'sync', 'restore', 'latest~1', '--path', 'MEMORY.md']))
  assert.equal(one.inPlace, false)
  assert.deepEqual(one.diff, { added: [], changed: ['MEMORY.md'], removed: [], unchanged: [] })
  // by its id instead of a time
  const byId = json(s.run(['--json', 'sync', 'restore', '--snapshot', before.slice(0, 10), '--path', 'MEMORY.md']))
  assert.equal(byId.snapshot, before)
  assert.deepEqual(byId.diff, one.diff)
  fails(s.run(['sync', 'restore', '--snapshot', 'ffffffff']), /no snapshot matches "ffffffff"/)

  const inPlace = ok(s.run(['sync', 'restore', 'latest~1', '--in-place']))
  const id = /^restore id: (\S+)$/m.exec(inPlace.stdout)![1]
  assert.match(inPlace.stdout, new RegExp(`^undo with: session-sync sync undo ${id}$`, 'm'))
  assert.equal(readFileSync(join(s.ws, 'MEMORY.md'), 'utf8'), '# Memory\n- the user likes tea\n')
  assert.ok(!existsSync(join(s.ws, 'memory', '2026-12-03.md')))

  const records = json(s.run(['--json', 'sync', 'restores']))
  assert.deepEqual(records.map((r: { id: string }) => r.id), [id])
  const undo = json(s.run(['--json', 'sync', 'undo', id]))
  assert.equal(undo.inPlace, true)
  assert.equal(readFileSync(join(s.ws, 'MEMORY.md'), 'utf8'), '# Memory\n- the user likes coffee now\n')
  assert.equal(readFileSync(join(s.ws, 'memory', '2026-12-03.md'), 'utf8'), 'third day\n')
  assert.match(ok(s.run(['sync', 'restores'])).stdout, new RegExp(`^${undo.id} .* undo .* undoes ${id}$`, 'm'))
  fails(s.run(['sync', 'undo', 'restore-nonexistent']), /no restore "restore-nonexistent"/)
})

test('a second workspace on an existing repository needs its key: without SESSION_SYNC_KEY init fails naming it, with it init works', () => {
  const a = site('first')
  init(a)
  ok(a.run(['sync', 'now']))
  const key = ok(a.run(['sync', 'key', '--show'])).stdout.trim()

  const b = site('second', { repo: a.repo })
  fails(b.run(['sync', 'init', '--provider', 'local', '--path', a.repo]), /already holds a repository.*SESSION_SYNC_KEY/)
  assert.ok(!existsSync(join(b.state, 'keys')) || readdirSync(join(b.state, 'keys')).length === 0, 'no key was created')
  const r = json(b.run(['--json', 'sync', 'init'], { SESSION_SYNC_KEY: key }))
  assert.equal(r.created, false)
  assert.equal(r.keySource, 'SESSION_SYNC_KEY')
  // The key is kept now: the second device works without the variable.
  const st = json(b.run(['--json', 'sync', 'status']))
  assert.equal(st.storageReachable, true)
  assert.equal(Object.values(st.snapshotsPerDevice).reduce((n: number, x) => n + (x as number), 0), 1)
  assert.equal(ok(b.run(['sync', 'key', '--show'])).stdout.trim(), key)
})

test('a bad config fails with exit 1 naming the field, for status and sync now alike', () => {
  const s = site('badconfig')
  init(s)
  setConfig(s, { interval_minutes: 'x' })
  fails(s.run(['sync', 'status']), /"interval_minutes" must be a number greater than 0/)
  fails(s.run(['sync', 'now']), /interval_minutes/)
  const e = json(s.run(['--json', 'sync', 'status']), 1)
  assert.equal(e.error.code, 'INVALID_CONFIG')
  assert.match(e.error.message, /interval_minutes/)
})

test('sync daemon: syncs at once and every interval, refuses a second daemon on the workspace, and stops on SIGTERM with exit 0', async () => {
  const s = site('daemon')
  init(s)
  setConfig(s, { interval_minutes: 0.02 })
  const d = startDaemon(s)
  const started = await waitFor('the daemon to start', () => d.events.find((e) => e.event === 'started'))
  assert.equal(started.pid, d.child.pid)
  assert.equal(started.intervalMinutes, 0.02)
  const first = await waitFor('the first sync', () => d.events.find((e) => e.event === 'sync' && e.result === 'ok'))
  assert.equal(first.trigger, 'timer')
  assert.ok(json(s.run(['--json', 'sync', 'log', '--limit', '50'])).some((e: { snapshot?: string }) => e.snapshot === first.snapshot), 'the sync is in the log')

  const second = s.run(['sync', 'daemon'])
  fails(second, new RegExp(`a daemon already runs the schedule for .* \\(pid ${d.child.pid} on `))
  assert.equal(json(s.run(['--json', 'sync', 'daemon']), 1).error.code, 'SYNC_BUSY')
  const sch = json(s.run(['--json', 'sync', 'status'])).schedule
  assert.equal(sch.running, true)
  assert.equal(sch.here, false)
  assert.equal(sch.pid, d.child.pid)
  assert.equal(sch.owner, 'daemon')
  assert.match(s.run(['sync', 'status']).stdout, new RegExp(`schedule: +the daemon runs it \\(pid ${d.child.pid} on `))

  writeFileSync(join(s.ws, 'memory', '2026-12-03.md'), 'third day\n')
  const next = await waitFor('a second snapshot', () => d.events.find((e) => e.event === 'sync' && e.result === 'ok' && e.snapshot !== first.snapshot))
  assert.equal(next.filesNew, 1)

  d.child.kill('SIGTERM')
  const exit = await Promise.race([d.exited, sleep(DEADLINE_MS).then(() => ({ code: -1, signal: null }))])
  assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${d.stderr()}`)
  assert.equal(d.events.at(-1)!.event, 'stopped')
  assert.ok(!existsSync(join(stateDirOf(s), 'schedule.lock')), 'the schedule\'s lease is given up')
  assert.ok(!existsSync(join(stateDirOf(s), 'lock')), 'no sync lock is left')
})

test('sync daemon refuses while an OpenClaw gateway runs the workspace\'s schedule, naming it; status says who runs it', async () => {
  const s = site('gateway-lease')
  init(s)
  const gateway = WorkspaceSync.create({ workspace: s.ws, env: s.env })
  assert.equal(gateway.start({ owner: 'openclaw gateway' }).scheduled, true)
  try {
    fails(s.run(['sync', 'daemon']), new RegExp(`openclaw gateway already runs the schedule for .* \\(pid ${process.pid} on `))
    assert.equal(json(s.run(['--json', 'sync', 'daemon']), 1).error.code, 'SYNC_BUSY')
    assert.match(ok(s.run(['sync', 'status'])).stdout, new RegExp(`schedule: +openclaw gateway runs it \\(pid ${process.pid} on `))
  } finally {
    await gateway.stop()
  }
  assert.deepEqual(json(s.run(['--json', 'sync', 'status'])).schedule, { running: false })
})

test('a daemon killed mid-sync leaves a stale lock and schedule lease: sync now takes the lock over, and a new daemon the lease', async () => {
  const s = site('kill')
  init(s)
  setConfig(s, { interval_minutes: 0.02 })
  // Enough data that the first sync takes a while.
  writeFileSync(join(s.ws, 'memory', 'big.bin'), randomBytesSeeded(128 * 1024 * 1024, 7))
  const d = startDaemon(s)
  const lock = join(await waitFor('the state folder', () => (existsSync(join(s.state, 'workspaces')) ? stateDirOf(s) : undefined)), 'lock')
  await waitFor('the daemon to hold the sync lock', () => {
    try {
      return JSON.parse(readFileSync(lock, 'utf8')).pid === d.child.pid ? true : undefined
    } catch {
      return undefined
    }
  })
  d.child.kill('SIGKILL')
  assert.equal((await d.exited).signal, 'SIGKILL')
  assert.ok(existsSync(lock), 'killed during the sync: its lock is left behind')
  assert.ok(existsSync(join(lock, '..', 'schedule.lock')), 'and its schedule lease')
  assert.ok(!d.events.some((e) => e.event === 'sync'), 'no sync finished before the kill')

  const r = json(s.run(['--json', 'sync', 'now']))
  assert.equal(r.result, 'ok')
  assert.equal(r.filesNew, 4)

  const again = startDaemon(s)
  await waitFor('a new daemon to start over the stale pid file', () => again.events.find((e) => e.event === 'started'))
  again.child.kill('SIGTERM')
  assert.equal((await again.exited).code, 0, again.stderr())
})
