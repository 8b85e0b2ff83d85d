import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BackendError, RetriesExhaustedError, withRateLimit, InvalidOptionsError, LocalBackend, MemoryBackend, withFaults, ObjectNotFoundError, isRetryable, parseLocation, providerOptions, withConcurrencyLimit, withRequestCounter, withRetry, type Backend, type Handle } from '../src/index.js'

const h = (): Handle => ({ type: 'data', name: randomBytes(32).toString('hex') })
const http = (status: number, name = 'Err') => new BackendError('load', 'x', Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } }))

test('retryable: 5xx, throttling, timeouts and dropped connections; never 403, 404 or a missing object', () => {
  for (const e of [http(500), http(503, 'SlowDown'), http(429), new BackendError('load', 'x', Object.assign(new Error('reset'), { code: 'ECONNRESET' })), new BackendError('load', 'x', Object.assign(new Error('t'), { name: 'TimeoutError' }))]) assert.equal(isRetryable(e), true, String(e))
  for (const e of [http(403, 'AccessDenied'), http(404, 'NoSuchKey'), http(400, 'InvalidRequest'), new ObjectNotFoundError('data', 'x'), new Error('plain')]) assert.equal(isRetryable(e), false, String(e))
})

/** Fails the first `n` calls of load with the given error. */
function failing(n: number, error: () => Error): Backend & { calls: number } {
  const inner = new MemoryBackend()
  const b = Object.assign(Object.create(inner) as MemoryBackend, { calls: 0 })
  b.load = async (handle: Handle) => {
    b.calls++
    if (b.calls <= n) throw error()
    return new Uint8Array([1, 2, 3])
  }
  return b
}

test('retry recovers from transient failures and gives up at once on permanent ones', async () => {
  const flaky = failing(3, () => http(503, 'SlowDown'))
  assert.deepEqual(await withRetry(flaky, { baseDelayMs: 1, maxDelayMs: 2 }).load(h()), new Uint8Array([1, 2, 3]))
  assert.equal(flaky.calls, 4)
  const denied = failing(1, () => http(403, 'AccessDenied'))
  await assert.rejects(withRetry(denied, { baseDelayMs: 1 }).load(h()), BackendError)
  assert.equal(denied.calls, 1, 'a 403 is not retried')
  const down = failing(1000, () => http(500))
  await assert.rejects(withRetry(down, { baseDelayMs: 1, maxDelayMs: 2, retries: 4 }).load(h()), BackendError)
  assert.equal(down.calls, 5, 'the first attempt and four retries')
  const slow = failing(1000, () => http(500))
  const started = Date.now()
  await assert.rejects(withRetry(slow, { baseDelayMs: 50, maxDelayMs: 50, retries: 1000, deadlineMs: 200 }).load(h()), BackendError)
  assert.ok(slow.calls < 50, `the deadline stops retrying (${slow.calls} calls in ${Date.now() - started} ms)`)
})

test('giving up on failures worth retrying is a RetriesExhaustedError (STORAGE_UNREACHABLE) with the last reason; each retry is reported; a closed backend stops retrying', async () => {
  const down = failing(1000, () => new BackendError('load', 'x', Object.assign(new Error('no answer for 0.3 s'), { name: 'TimeoutError' })))
  const seen: number[] = []
  await assert.rejects(withRetry(down, { baseDelayMs: 1, maxDelayMs: 2, retries: 3, onRetry: (r) => seen.push(r.attempt) }).load(h()), (e: unknown) => {
    assert.ok(e instanceof RetriesExhaustedError && e instanceof BackendError, String(e))
    assert.equal(e.code, 'STORAGE_UNREACHABLE')
    assert.match(e.message, /4 attempts in .* failed \(last: no answer for 0\.3 s\)\. Check the endpoint URL/)
    return true
  })
  assert.deepEqual(seen, [2, 3, 4])
  const denied = failing(1, () => http(403, 'AccessDenied'))
  await assert.rejects(withRetry(denied, { baseDelayMs: 1 }).load(h()), (e: unknown) => e instanceof BackendError && e.code === 'BACKEND_ERROR')
  const closing = failing(1000, () => http(503))
  const b = withRetry(closing, { baseDelayMs: 10_000, maxDelayMs: 10_000 })
  const pending = b.load(h())
  await new Promise((r) => setTimeout(r, 20))
  await b.close()
  await assert.rejects(pending, (e: unknown) => e instanceof BackendError && e.code === 'BACKEND_ERROR')
  assert.equal(closing.calls, 1, 'no attempt after close')
})

test('rate limits: transfers of a direction share its rate (each waits for the bytes reserved before it); the other direction is not held', async () => {
  const waits: number[] = []
  let now = 0
  const b = withRateLimit(new MemoryBackend(), { uploadBytesPerSec: 100 * 1024, downloadBytesPerSec: 50 * 1024, now: () => now, sleep: async (ms) => void waits.push(ms) })
  const hs = [h(), h(), h()]
  await Promise.all(hs.map((x) => b.save(x, new Uint8Array(100 * 1024))))
  assert.deepEqual(waits, [1000, 2000], 'the second upload waits 1 s, the third 2 s (the first goes at once)')
  waits.length = 0
  now = 10_000 // the reserved time has passed: no wait
  await b.save(h(), new Uint8Array(1024))
  assert.deepEqual(waits, [])
  now = 20_000
  for (const x of hs) await b.load(x)
  assert.deepEqual(waits, [2000, 4000], 'downloads at 50 KiB/s: 2 s per 100 KiB after the first')
  assert.throws(() => withRateLimit(new MemoryBackend(), { uploadBytesPerSec: -1 }), RangeError)
  assert.ok(withRateLimit(new MemoryBackend(), {}) instanceof MemoryBackend, 'no limit, no wrapper')
})

test('a create-if-absent whose first answer was lost is not reported as a conflict on retry', async () => {
  const memory = new MemoryBackend()
  let first = true
  const once: Backend = Object.assign(Object.create(memory) as Backend, {
    save: async (handle: Handle, data: Uint8Array, o?: { ifAbsent?: boolean }) => {
      if (first) {
        first = false
        await memory.save(handle, data, o)
        throw new BackendError('save', 'x', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      }
      return memory.save(handle, data, o)
    },
  })
  const handle = { type: 'keys' as const, name: randomBytes(32).toString('hex') }
  await withRetry(once, { baseDelayMs: 1 }).save(handle, Buffer.from('key file'), { ifAbsent: true })
  assert.equal(Buffer.from(await memory.load(handle)).toString(), 'key file')
})

test('the concurrency limit holds requests back and keeps their order', async () => {
  const inner = new MemoryBackend()
  let running = 0
  let peak = 0
  const slow: Backend = Object.assign(Object.create(inner) as MemoryBackend, {
    stat: async () => {
      running++
      peak = Math.max(peak, running)
      await new Promise((r) => setTimeout(r, 5))
      running--
      return { size: 1 }
    },
  })
  const limited = withConcurrencyLimit(slow, 3)
  await Promise.all(Array.from({ length: 20 }, () => limited.stat(h())))
  assert.equal(peak, 3)
  assert.throws(() => withConcurrencyLimit(slow, 0), RangeError)
})

test('the request counter counts by kind and bytes', async () => {
  const c = withRequestCounter(new MemoryBackend())
  const x = h()
  await c.save(x, new Uint8Array(100))
  await c.load(x, { offset: 10, length: 20 })
  await c.stat(x)
  for await (const _ of c.list('data')) void _
  await c.remove(x)
  assert.deepEqual(c.counts, { GET: 1, PUT: 1, LIST: 1, DELETE: 1, HEAD: 1, bytesUp: 100, bytesDown: 20 })
})

test('repository locations and provider presets', () => {
  assert.deepEqual(parseLocation('s3:https://s3.example.com:9000/bucket/a/b'), { kind: 's3', endpoint: 'https://s3.example.com:9000', bucket: 'bucket', prefix: 'a/b' })
  assert.deepEqual(parseLocation('s3:http://127.0.0.1:9000/b'), { kind: 's3', endpoint: 'http://127.0.0.1:9000', bucket: 'b', prefix: '' })
  assert.deepEqual(parseLocation('s3:my-bucket/agent/memory'), { kind: 's3', bucket: 'my-bucket', prefix: 'agent/memory' })
  assert.equal(parseLocation('./repo').kind, 'local')
  assert.throws(() => parseLocation('s3:https://user:secret@host/bucket'), (e: unknown) => e instanceof InvalidOptionsError && !e.message.includes('secret'))
  assert.throws(() => parseLocation('s3:'), InvalidOptionsError)
  assert.throws(() => parseLocation('ftp://host/x'), InvalidOptionsError)
  assert.equal(providerOptions('backblaze', { region: 'us-west-004' }).endpoint, 'https://s3.us-west-004.backblazeb2.com')
  assert.equal(providerOptions('r2', { accountId: 'abc123' }).endpoint, 'https://abc123.r2.cloudflarestorage.com')
  assert.equal(providerOptions('r2', { accountId: 'abc123' }).region, 'auto')
  assert.equal(providerOptions('wasabi', { region: 'eu-central-1' }).endpoint, 'https://s3.eu-central-1.wasabisys.com')
  assert.equal(providerOptions('minio', { endpoint: 'http://127.0.0.1:9000' }).forcePathStyle, true)
  assert.equal(providerOptions('s3', {}).region, 'us-east-1')
  assert.throws(() => providerOptions('backblaze', {}), InvalidOptionsError)
  assert.throws(() => providerOptions('r2', {}), InvalidOptionsError)
  assert.throws(() => providerOptions('custom', {}), InvalidOptionsError)
})

test('every wrapper offers the optional calls exactly where the backend below has them, and they reach it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssc-decorators-'))
  try {
    const wrappers: Array<[string, (b: Backend) => Backend]> = [
      ['retry', (b) => withRetry(b)],
      ['limit', (b) => withConcurrencyLimit(b, 2)],
      ['counter', (b) => withRequestCounter(b)],
      ['faults (rate 0)', (b) => withFaults(b, { rate: 0 })],
    ]
    for (const [name, wrap] of wrappers) {
      const plain = wrap(new MemoryBackend())
      for (const call of ['loadInto', 'stagingPath', 'saveFile', 'removeIncomplete'] as const) assert.equal(plain[call], undefined, `${name} over memory: no ${call}`)
      const local = new LocalBackend(join(dir, name))
      const b = wrap(wrap(local)) // twice: a wrapper over a wrapper forwards them too
      const staged = b.stagingPath!()
      const bytes = randomBytes(1000)
      mkdirSync(join(staged, '..'), { recursive: true })
      writeFileSync(staged, bytes)
      const h: Handle = { type: 'data', name: 'ab'.repeat(32) }
      await b.saveFile!(h, staged)
      const out = Buffer.alloc(10)
      await b.loadInto!(h, { offset: 5, length: 10 }, out)
      assert.ok(out.equals(bytes.subarray(5, 15)), `${name}: loadInto`)
      assert.equal(typeof (await b.removeIncomplete!(0)), 'number', `${name}: removeIncomplete`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
