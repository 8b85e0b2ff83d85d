// Runs the built CLI (dist/cli.js) as a user would: a real process, an environment without any
// SESSION_SYNC_* or AWS_* variable of this one, and stdin that is not a terminal.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CLI = join(ROOT, 'dist', 'cli.js')
export const PASSWORD = { SESSION_SYNC_PASSWORD: 'correct horse battery staple' }
/** Cheap Argon2id for the repositories created here. */
export const CHEAP_KDF = ['--kdf-memory', '8', '--kdf-passes', '1']

export interface Run {
  status: number | null
  signal?: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export function baseEnv(): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^(SESSION_SYNC_|AWS_)/.test(k)) base[k] = v
  return base
}

export function requireBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it first with "npm run build" (npm test builds before it tests)`)
}

export function cli(args: string[], env: Record<string, string> = PASSWORD, opts: { timeout?: number; input?: string } = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...baseEnv(), ...env }, input: opts.input ?? '', encoding: 'utf8', timeout: opts.timeout ?? 60_000, killSignal: 'SIGKILL' })
  if (r.error) throw r.error
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

export function ok(r: Run): Run {
  assert.equal(r.status, 0, `expected success, got exit ${r.status}; stderr: ${r.stderr}`)
  return r
}

/** Exactly one JSON value on stdout, on one line; `status` is the exit status expected. */
export function json<T = any>(r: Run, status = 0): T {
  assert.equal(r.status, status, `expected exit ${status}, got ${r.status}; stderr: ${r.stderr}`)
  assert.ok(r.stdout.endsWith('\n') && r.stdout.indexOf('\n') === r.stdout.length - 1, `one line of JSON expected on stdout, got: ${JSON.stringify(r.stdout)}`)
  return JSON.parse(r.stdout) as T
}

/** cli() in a child process that leaves this event loop free: for servers the test itself runs. */
export function cliAsync(args: string[], env: Record<string, string> = PASSWORD, opts: { timeout?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    // A backstop for a hang; not a measure of speed.
    const kill = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 60_000)
    child.on('error', reject)
    child.on('close', (status, signal) => {
      clearTimeout(kill)
      resolve({ status, signal, stdout, stderr })
    })
  })
}
