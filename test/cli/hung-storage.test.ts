// A store that accepts connections and never answers: the CLI says each retry on stderr and ends
// within its retry deadline with a typed error that says what to do, instead of hanging.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer, type Server, type Socket } from 'node:net'
import { CLI, PASSWORD, ROOT, baseEnv, requireBuilt, type Run } from './run.js'

let server: Server
const sockets = new Set<Socket>()
let requests = 0
let endpoint: string

before(async () => {
  requireBuilt()
  server = createServer((s) => {
    sockets.add(s)
    s.on('data', () => requests++) // read the request, never reply
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})
after(async () => {
  for (const s of sockets) s.destroy()
  await new Promise((r) => server.close(r))
})

/** The CLI in a child process, this process's event loop free to accept its connections. */
function run(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...baseEnv(), ...PASSWORD, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    // A backstop for a hang, far beyond the deadline asked for; not a measure of speed.
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (status, signal) => {
      clearTimeout(kill)
      resolve({ status, signal, stdout, stderr })
    })
  })
}

test('a store that never answers: retries said on stderr, then STORAGE_UNREACHABLE with what to do', async () => {
  const r = await run(['--repo', `s3:${endpoint}/bucket/repo`, '--s3-timeout', '300ms', '--retry-deadline', '2s', 'snapshots'], {})
  assert.equal(r.signal, null, `the command hung and was killed; stderr: ${r.stderr}`)
  assert.equal(r.status, 1, r.stderr)
  assert.equal(r.stdout, '')
  const lines = r.stderr.trim().split('\n')
  const retries = lines.filter((l) => /^storage: .* failed \(no answer for 0\.3 s\); retrying in \d+ ms \(attempt \d+, giving up in \d+ s\)$/.test(l))
  assert.ok(retries.length >= 1, `retries are said: ${r.stderr}`)
  const last = lines.at(-1)!
  assert.match(last, /^session-sync: the storage gave no usable answer to (load config|list keys): \d+ attempts in [\d.]+ s failed \(last: no answer for 0\.3 s\)\. Check the endpoint URL and the network/)
  assert.match(last, /--s3-timeout and --retry-deadline/)
  assert.doesNotMatch(r.stderr, /unexpected error|@smithy|node-http-handler/)
  assert.ok(requests >= 2, `the requests reached the server (${requests})`)
})

test('the same through the environment, with --json: one error object with its code', async () => {
  const r = await run(['--repo', `s3:${endpoint}/bucket/repo`, '--json', 'snapshots'], { SESSION_SYNC_S3_TIMEOUT: '200ms', SESSION_SYNC_RETRY_DEADLINE: '1s' })
  assert.equal(r.signal, null, `the command hung and was killed; stderr: ${r.stderr}`)
  assert.equal(r.status, 1, r.stderr)
  const err = JSON.parse(r.stdout).error
  assert.equal(err.code, 'STORAGE_UNREACHABLE')
  assert.match(err.message, /last: no answer for 0\.2 s/)
  assert.match(r.stderr, /retrying in/)
})

test('a malformed timeout is refused before any request', async () => {
  const r = await run(['--repo', `s3:${endpoint}/bucket/repo`, '--s3-timeout', 'soon', 'snapshots'], {})
  assert.equal(r.status, 1)
  assert.match(r.stderr, /--s3-timeout takes a duration such as 30s/)
})
