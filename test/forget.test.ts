import { test, after, describe } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { MemoryBackend, Repository, type Snapshot } from '../src/index.js'
import { applyPolicy, describePolicy, forget, forgetSnapshots, groupSnapshots, isEmptyPolicy, isoWeek, parseDuration, validatePolicy, type RetentionPolicy } from '../src/forget/index.js'
import { cleanup, memoryRepo, tempDir } from './helpers.js'

after(cleanup)

let serial = 0
function snap(iso: string, extra: Partial<Snapshot> = {}): Snapshot {
  const id = (++serial).toString(16).padStart(64, '0')
  return { id, shortId: id.slice(0, 8), time: new Date(iso), host: 'h', user: 'u', paths: ['/data'], tags: [], tree: '00'.repeat(32), parents: [], excludes: [], program: 'test', ...extra }
}

// ---- table ----------------------------------------------------------------------------------------

/**
 * 30 snapshot times over two years, newest first (UTC). ISO weeks noted where they matter:
 * 2026-11-23 (Mon) starts 2026-W48, so Sunday 2026-11-22 is still W47; 2025-12-29 (Mon) is in
 * 2026-W01 while 2025-12-28 (Sun) is in 2025-W52; 2024-12-30 (Mon) and 2025-01-05 (Sun) are both
 * in 2025-W01.
 */
const TIMES: Array<[string, string[]?]> = [
  ['2026-11-24T10:00:00Z'], //  1 Tue W48
  ['2026-11-24T09:30:00Z'], //  2
  ['2026-11-24T09:05:00Z'], //  3 same hour as 2
  ['2026-11-24T06:00:00Z'], //  4
  ['2026-11-23T23:59:00Z'], //  5 Mon W48
  ['2026-11-23T00:00:00Z'], //  6
  ['2026-11-22T23:00:00Z'], //  7 Sun W47
  ['2026-11-21T12:00:00Z'], //  8
  ['2026-11-20T12:00:00Z'], //  9
  ['2026-11-18T08:00:00Z'], // 10
  ['2026-11-16T08:00:00Z'], // 11 Mon W47
  ['2026-11-09T08:00:00Z'], // 12 W46
  ['2026-11-01T00:30:00Z'], // 13 Sun W44, first of the month
  ['2026-10-31T23:30:00Z'], // 14 Sat W44, last of the month before
  ['2026-10-15T12:00:00Z', ['important']], // 15
  ['2026-09-30T12:00:00Z'], // 16
  ['2026-08-01T00:00:00Z'], // 17
  ['2026-06-15T12:00:00Z'], // 18
  ['2026-03-01T12:00:00Z'], // 19
  ['2026-02-28T12:00:00Z'], // 20
  ['2026-01-01T12:00:00Z'], // 21 Thu 2026-W01
  ['2025-12-29T12:00:00Z'], // 22 Mon 2026-W01, year 2025
  ['2025-12-28T12:00:00Z', ['other']], // 23 Sun 2025-W52
  ['2025-12-01T12:00:00Z'], // 24
  ['2025-11-24T11:00:00Z'], // 25
  ['2025-06-01T12:00:00Z', ['important', 'other']], // 26
  ['2025-05-24T12:00:00Z'], // 27
  ['2025-03-31T12:00:00Z'], // 28
  ['2025-01-05T12:00:00Z'], // 29 Sun 2025-W01
  ['2024-12-30T12:00:00Z', ['important']], // 30 Mon 2025-W01, year 2024
]
const T = (n: number) => TIMES[n - 1][0]
const NOW = new Date('2026-11-24T12:00:00Z')

/** Kept snapshots, newest first, by their number in TIMES, with their reasons (derived by hand). */
const TABLE: Array<{ name: string; policy: RetentionPolicy; kept: Array<[number, string[]]> }> = [
  { name: 'keepLast 3', policy: { keepLast: 3 }, kept: [[1, ['last 1']], [2, ['last 2']], [3, ['last 3']]] },
  {
    name: 'keepHourly 5',
    policy: { keepHourly: 5 },
    kept: [[1, ['hourly 2026-11-24T10']], [2, ['hourly 2026-11-24T09']], [4, ['hourly 2026-11-24T06']], [5, ['hourly 2026-11-23T23']], [6, ['hourly 2026-11-23T00']]],
  },
  {
    name: 'keepDaily 7',
    policy: { keepDaily: 7 },
    kept: [[1, ['daily 2026-11-24']], [5, ['daily 2026-11-23']], [7, ['daily 2026-11-22']], [8, ['daily 2026-11-21']], [9, ['daily 2026-11-20']], [10, ['daily 2026-11-18']], [11, ['daily 2026-11-16']]],
  },
  { name: 'keepWeekly 4', policy: { keepWeekly: 4 }, kept: [[1, ['weekly 2026-W48']], [7, ['weekly 2026-W47']], [12, ['weekly 2026-W46']], [13, ['weekly 2026-W44']]] },
  {
    name: 'keepMonthly 6',
    policy: { keepMonthly: 6 },
    kept: [[1, ['monthly 2026-11']], [14, ['monthly 2026-10']], [16, ['monthly 2026-09']], [17, ['monthly 2026-08']], [18, ['monthly 2026-06']], [19, ['monthly 2026-03']]],
  },
  { name: 'keepYearly 2', policy: { keepYearly: 2 }, kept: [[1, ['yearly 2026']], [22, ['yearly 2025']]] },
  {
    name: 'keepDaily 7 + keepWeekly 4 + keepMonthly 12',
    policy: { keepDaily: 7, keepWeekly: 4, keepMonthly: 12 },
    kept: [
      [1, ['daily 2026-11-24', 'weekly 2026-W48', 'monthly 2026-11']],
      [5, ['daily 2026-11-23']],
      [7, ['daily 2026-11-22', 'weekly 2026-W47']],
      [8, ['daily 2026-11-21']],
      [9, ['daily 2026-11-20']],
      [10, ['daily 2026-11-18']],
      [11, ['daily 2026-11-16']],
      [12, ['weekly 2026-W46']],
      [13, ['weekly 2026-W44']],
      [14, ['monthly 2026-10']],
      [16, ['monthly 2026-09']],
      [17, ['monthly 2026-08']],
      [18, ['monthly 2026-06']],
      [19, ['monthly 2026-03']],
      [20, ['monthly 2026-02']],
      [21, ['monthly 2026-01']],
      [22, ['monthly 2025-12']],
      [25, ['monthly 2025-11']],
      [26, ['monthly 2025-06']],
      [27, ['monthly 2025-05']],
    ],
  },
  {
    name: 'keepLast 2 + keepWeekly 2 + keepYearly 5 (fewer years than asked)',
    policy: { keepLast: 2, keepWeekly: 2, keepYearly: 5 },
    kept: [[1, ['last 1', 'weekly 2026-W48', 'yearly 2026']], [2, ['last 2']], [7, ['weekly 2026-W47']], [22, ['yearly 2025']], [30, ['yearly 2024']]],
  },
  // newest is 2026-11-24T10:00; 30 days back is 2026-10-25T10:00, so 14 (2026-10-31) is within
  { name: "keepWithin '30d'", policy: { keepWithin: '30d' }, kept: Array.from({ length: 14 }, (_, i) => [i + 1, ['within 30d']] as [number, string[]]) },
  // 1 year 6 months back is 2025-05-24T10:00: 27 (2025-05-24T12:00) is just inside
  { name: "keepWithin '1y6m'", policy: { keepWithin: '1y6m' }, kept: Array.from({ length: 27 }, (_, i) => [i + 1, ['within 1y6m']] as [number, string[]]) },
  // 36 hours back is 2026-11-22T22:00: 7 (23:00) is inside
  {
    name: "keepWithin '36h' + keepTags ['important']",
    policy: { keepWithin: '36h', keepTags: ['important'] },
    kept: [...Array.from({ length: 7 }, (_, i) => [i + 1, ['within 36h']] as [number, string[]]), [15, ['tag important']], [26, ['tag important']], [30, ['tag important']]],
  },
  // 2 weeks back is 2026-11-10T10:00
  {
    name: "keepWithin '2w' + keepMonthly 3",
    policy: { keepWithin: '2w', keepMonthly: 3 },
    kept: [[1, ['monthly 2026-11', 'within 2w']], ...Array.from({ length: 10 }, (_, i) => [i + 2, ['within 2w']] as [number, string[]]), [14, ['monthly 2026-10']], [16, ['monthly 2026-09']]],
  },
  { name: "keepTags ['important']", policy: { keepTags: ['important'] }, kept: [[1, ['newest of its group']], [15, ['tag important']], [26, ['tag important']], [30, ['tag important']]] },
  { name: "keepTags ['important,other'] (all of a list)", policy: { keepTags: ['important,other'] }, kept: [[1, ['newest of its group']], [26, ['tag important,other']]] },
  { name: 'empty policy', policy: {}, kept: TIMES.map((_, i) => [i + 1, ['no policy']] as [number, string[]]) },
  { name: 'all counts 0 is empty too', policy: { keepLast: 0, keepDaily: 0, keepTags: [] }, kept: TIMES.map((_, i) => [i + 1, ['no policy']] as [number, string[]]) },
]

describe('applyPolicy: fixed table (UTC)', () => {
  // shuffled input: the order given must not matter
  const input = TIMES.map(([iso, tags]) => snap(iso, { tags: tags ?? [] })).reverse()
  for (let i = input.length - 1; i > 0; i--) {
    const j = (i * 7919) % (i + 1)
    ;[input[i], input[j]] = [input[j], input[i]]
  }
  for (const row of TABLE) {
    test(row.name, () => {
      const decisions = applyPolicy(input, row.policy, { now: NOW, timeZone: 'UTC' })
      assert.equal(decisions.length, TIMES.length)
      assert.deepEqual(
        decisions.map((d) => d.snapshot.time.toISOString()),
        TIMES.map(([iso]) => new Date(iso).toISOString()),
        'decisions come newest first',
      )
      const kept = decisions.filter((d) => d.keep).map((d) => [d.snapshot.time.toISOString(), d.reasons])
      assert.deepEqual(kept, row.kept.map(([n, reasons]) => [new Date(T(n)).toISOString(), reasons]))
      for (const d of decisions) if (!d.keep) assert.deepEqual(d.reasons, [])
    })
  }
})

test('ISO weeks at year boundaries', () => {
  assert.deepEqual(isoWeek(2025, 12, 29), { year: 2026, week: 1 })
  assert.deepEqual(isoWeek(2025, 12, 28), { year: 2025, week: 52 })
  assert.deepEqual(isoWeek(2024, 12, 30), { year: 2025, week: 1 })
  assert.deepEqual(isoWeek(2021, 1, 3), { year: 2020, week: 53 })
  assert.deepEqual(isoWeek(2026, 12, 31), { year: 2026, week: 53 })
  assert.deepEqual(isoWeek(2027, 1, 1), { year: 2026, week: 53 })
  assert.deepEqual(isoWeek(2027, 1, 4), { year: 2027, week: 1 })
})

test('keepWithin: measured from the newest snapshot not after now; calendar months roll over like restic', () => {
  const s = [snap('2026-03-31T00:00:00Z'), snap('2026-03-03T00:00:00Z'), snap('2026-03-02T23:00:00Z'), snap('2026-02-28T00:00:00Z')]
  // 2026-03-31 minus one month is "2026-02-31", which rolls over to 2026-03-03; within is strictly after
  const kept = (p: RetentionPolicy, now = new Date('2026-04-01T00:00:00Z')) =>
    applyPolicy(s, p, { now, timeZone: 'UTC' })
      .filter((d) => d.keep)
      .map((d) => d.snapshot.time.toISOString().slice(0, 13))
  assert.deepEqual(kept({ keepWithin: '1m' }), ['2026-03-31T00'])
  assert.deepEqual(kept({ keepWithin: '1m1h' }), ['2026-03-31T00', '2026-03-03T00'])
  assert.deepEqual(kept({ keepWithin: '29d' }), ['2026-03-31T00', '2026-03-03T00', '2026-03-02T23'])
  // a group that stopped getting backups keeps its last stretch however late forget runs
  assert.deepEqual(kept({ keepWithin: '29d' }, new Date('2030-01-01T00:00:00Z')), ['2026-03-31T00', '2026-03-03T00', '2026-03-02T23'])
  // a snapshot from the future is kept (within) but is not the reference
  const future = [...s, snap('2027-01-01T00:00:00Z')]
  const d = applyPolicy(future, { keepWithin: '29d' }, { now: new Date('2026-04-01T00:00:00Z'), timeZone: 'UTC' })
  assert.deepEqual(
    d.filter((x) => x.keep).map((x) => x.snapshot.time.toISOString().slice(0, 10)),
    ['2027-01-01', '2026-03-31', '2026-03-03', '2026-03-02'],
  )
  // every snapshot in the future: measured from now, so all are within
  assert.ok(applyPolicy(s, { keepWithin: '1h' }, { now: new Date('2020-01-01T00:00:00Z'), timeZone: 'UTC' }).every((x) => x.keep))
  // a duration longer than dates go keeps everything
  assert.ok(applyPolicy(s, { keepWithin: '999999999y' }, { timeZone: 'UTC' }).every((x) => x.keep))
})

test('snapshots with equal times: the one with the highest id counts as newest', () => {
  const a = snap('2026-01-01T00:00:00Z', { id: 'a'.repeat(64) })
  const b = snap('2026-01-01T00:00:00Z', { id: 'b'.repeat(64) })
  const d = applyPolicy([a, b], { keepLast: 1 }, { timeZone: 'UTC' })
  assert.deepEqual(d.map((x) => [x.snapshot.id[0], x.keep]), [['b', true], ['a', false]])
})

test('parseDuration: accepted forms and clear errors', () => {
  assert.deepEqual(parseDuration('30d'), { years: 0, months: 0, days: 30, hours: 0 })
  assert.deepEqual(parseDuration('2w'), { years: 0, months: 0, days: 14, hours: 0 })
  assert.deepEqual(parseDuration('1y6m'), { years: 1, months: 6, days: 0, hours: 0 })
  assert.deepEqual(parseDuration('36h'), { years: 0, months: 0, days: 0, hours: 36 })
  assert.deepEqual(parseDuration('1w2d3h'), { years: 0, months: 0, days: 9, hours: 3 })
  assert.deepEqual(parseDuration('2h1y'), { years: 1, months: 0, days: 0, hours: 2 })
  for (const bad of ['', '30', 'd', '30 d', '1.5d', '-3d', '3D', '30days', '1y1y', '0d', '0y0m', '3s', ' 3d']) {
    assert.throws(() => parseDuration(bad), (e: Error & { code?: string }) => e.code === 'INVALID_OPTIONS' && /"30d", "2w", "1y6m" or "36h"/.test(e.message), bad)
  }
})

test('policy validation rejects what it cannot honour', () => {
  const invalid = (p: unknown, re: RegExp) => assert.throws(() => applyPolicy([], p as RetentionPolicy), (e: Error & { code?: string }) => e.code === 'INVALID_OPTIONS' && re.test(e.message))
  invalid({ keepDays: 3 }, /unknown retention rule "keepDays"/)
  invalid({ keepLast: -1 }, /keepLast must be a non-negative integer/)
  invalid({ keepDaily: 1.5 }, /keepDaily must be/)
  invalid({ keepWeekly: '3' }, /keepWeekly must be/)
  invalid({ keepWithin: '30 days' }, /invalid duration/)
  invalid({ keepTags: 'important' }, /keepTags must be an array/)
  invalid({ keepTags: [''] }, /keepTags entries/)
  invalid({ keepTags: ['a,'] }, /keepTags entries/)
  invalid(null, /must be an object/)
  assert.throws(() => applyPolicy([], {}, { timeZone: 'Europe/Paris' as 'UTC' }), { code: 'INVALID_OPTIONS' })
  assert.throws(() => groupSnapshots([], ['user' as 'host']), { code: 'INVALID_OPTIONS' })
  assert.deepEqual(validatePolicy({ keepLast: 0, keepDaily: 3, keepTags: [] }), { keepDaily: 3 })
  assert.ok(isEmptyPolicy({ keepLast: 0 }))
  assert.ok(!isEmptyPolicy({ keepTags: ['x'] }))
  assert.equal(describePolicy({ keepLast: 3, keepDaily: 7, keepWithin: '30d', keepTags: ['important'] }), 'keep the last 3, 7 daily, within 30d of the newest, tag important')
  assert.equal(describePolicy({}), 'no policy: keep everything')
})

test('groupSnapshots: by host and paths by default, readable unambiguous keys', () => {
  const a1 = snap('2026-01-01T00:00:00Z', { host: 'a', paths: ['/y', '/x'] })
  const a2 = snap('2026-01-02T00:00:00Z', { host: 'a', paths: ['/x', '/y'], tags: ['t'] })
  const a3 = snap('2025-01-02T00:00:00Z', { host: 'a', paths: ['/x'] })
  const b1 = snap('2026-01-03T00:00:00Z', { host: 'b', paths: ['/x', '/y'] })
  const odd = snap('2026-01-03T00:00:00Z', { host: 'a" paths=["/x"]', paths: [] })
  const g = groupSnapshots([a2, b1, a1, a3, odd])
  assert.deepEqual([...g.keys()], ['host="a" paths=["/x","/y"]', 'host="a" paths=["/x"]', 'host="a\\" paths=[\\"/x\\"]" paths=[]', 'host="b" paths=["/x","/y"]'])
  assert.deepEqual(g.get('host="a" paths=["/x","/y"]'), [a1, a2], 'oldest first')
  assert.deepEqual([...groupSnapshots([a1, a2, b1], ['tags', 'host']).keys()], ['host="a" tags=["t"]', 'host="a" tags=[]', 'host="b" tags=[]'])
  assert.deepEqual([...groupSnapshots([a1, a2, b1], []).entries()], [['all', [a1, a2, b1]]])
})

// ---- properties -----------------------------------------------------------------------------------

const START = Date.parse('2024-01-01T00:00:00Z')
const SPAN = 3 * 365 * 86_400_000

const snapshotsArb = fc
  .array(
    fc.record({
      // clustered times: many within hours of each other, some years apart
      t: fc.oneof(fc.integer({ min: 0, max: SPAN }), fc.integer({ min: 0, max: 200 }).map((h) => SPAN - h * 3_600_000)),
      host: fc.constantFrom('a', 'b'),
      paths: fc.constantFrom(['/x'], ['/x', '/y']),
      tags: fc.subarray(['important', 'db', 'x']),
    }),
    { minLength: 0, maxLength: 40 },
  )
  .map((rows) =>
    rows.map((r, i) => {
      const id = (i + 1).toString(16).padStart(64, '0')
      return { id, shortId: id.slice(0, 8), time: new Date(START + r.t), host: r.host, user: 'u', paths: [...r.paths], tags: r.tags, tree: '', parents: [], excludes: [], program: 't' } satisfies Snapshot
    }),
  )

const count = fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined })
const policyArb: fc.Arbitrary<RetentionPolicy> = fc
  .record({
    keepLast: count,
    keepHourly: count,
    keepDaily: count,
    keepWeekly: count,
    keepMonthly: count,
    keepYearly: count,
    keepWithin: fc.option(
      fc.tuple(fc.integer({ min: 1, max: 40 }), fc.constantFrom('y', 'm', 'w', 'd', 'h')).map(([n, u]) => `${n}${u}`),
      { nil: undefined },
    ),
    keepTags: fc.option(fc.subarray(['important', 'db', 'important,db', 'nope']), { nil: undefined }),
  })
  .map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as RetentionPolicy)
const applyOptsArb = fc.record({
  now: fc.option(fc.integer({ min: START - 86_400_000, max: START + SPAN + 86_400_000 }).map((t) => new Date(t)), { nil: undefined }),
  timeZone: fc.constantFrom('UTC' as const, 'local' as const),
})

const newest = (ss: Snapshot[]) => [...ss].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1))[0]

describe('applyPolicy: properties', () => {
  test('the newest snapshot of every group is kept; kept exactly when there is a reason; one decision per snapshot', () => {
    fc.assert(
      fc.property(snapshotsArb, policyArb, applyOptsArb, fc.subarray(['host', 'paths', 'tags'] as const), (snaps, policy, opts, by) => {
        let total = 0
        for (const [, group] of groupSnapshots(snaps, [...by])) {
          const d = applyPolicy(group, policy, opts)
          total += d.length
          assert.deepEqual(new Set(d.map((x) => x.snapshot.id)), new Set(group.map((s) => s.id)))
          assert.equal(d[0].snapshot, newest(group))
          assert.equal(d[0].keep, true)
          for (const x of d) assert.equal(x.keep, x.reasons.length > 0)
        }
        assert.equal(total, snaps.length)
      }),
      { numRuns: 300 },
    )
  })

  test('keepLast n alone keeps exactly the n newest; with other rules at least those', () => {
    fc.assert(
      fc.property(snapshotsArb, fc.integer({ min: 1, max: 45 }), policyArb, applyOptsArb, (snaps, n, other, opts) => {
        const order = [...snaps].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1)).map((s) => s.id)
        const alone = applyPolicy(snaps, { keepLast: n }, opts)
        assert.deepEqual(alone.filter((d) => d.keep).map((d) => d.snapshot.id), order.slice(0, n))
        const combined = applyPolicy(snaps, { ...other, keepLast: n }, opts)
        const kept = new Set(combined.filter((d) => d.keep).map((d) => d.snapshot.id))
        assert.ok(kept.size >= Math.min(n, snaps.length))
        for (const id of order.slice(0, n)) assert.ok(kept.has(id))
      }),
      { numRuns: 300 },
    )
  })

  test('idempotent: applying the policy to what it kept keeps all of it', () => {
    fc.assert(
      fc.property(snapshotsArb, policyArb, applyOptsArb, (snaps, policy, opts) => {
        const kept = applyPolicy(snaps, policy, opts)
          .filter((d) => d.keep)
          .map((d) => d.snapshot)
        const again = applyPolicy(kept, policy, opts)
        assert.ok(again.every((d) => d.keep), `removed on second pass: ${again.filter((d) => !d.keep).map((d) => d.snapshot.time.toISOString())}`)
      }),
      { numRuns: 500 },
    )
  })

  test('parseDuration reads back what it is given', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.constantFrom('y', 'm', 'w', 'd', 'h'), fc.integer({ min: 0, max: 10_000 })), { selector: ([u]) => u, minLength: 1 }), (parts) => {
        fc.pre(parts.some(([, n]) => n > 0))
        const d = parseDuration(parts.map(([u, n]) => `${n}${u}`).join(''))
        const get = (u: string) => parts.find(([x]) => x === u)?.[1] ?? 0
        assert.deepEqual(d, { years: get('y'), months: get('m'), days: get('d') + 7 * get('w'), hours: get('h') })
      }),
    )
  })
})

// ---- on a repository ------------------------------------------------------------------------------

/** Six snapshots of host alpha and two of beta, made once; each test gets its own copy. */
let history: Promise<{ files: Map<string, Uint8Array>; alpha: Record<string, string>; beta: string[] }> | undefined
function makeHistory() {
  history ??= (async () => {
    const src = join(tempDir('forget'), 'notes')
    mkdirSync(src)
    const { repo, backend } = await memoryRepo()
    const make = async (iso: string, host: string, content: string) => {
      writeFileSync(join(src, 'a.md'), content)
      const s = await repo.backup([src], { time: new Date(iso), host, threads: 0 })
      return s.snapshotId!
    }
    const alpha: Record<string, string> = {}
    for (const iso of ['2026-11-20T08:00:00Z', '2026-11-21T08:00:00Z', '2026-11-21T20:00:00Z', '2026-11-22T08:00:00Z', '2026-11-23T08:00:00Z', '2026-11-23T09:00:00Z']) {
      alpha[iso] = await make(iso, 'alpha', `alpha ${iso}`)
    }
    const beta = [await make('2026-11-01T08:00:00Z', 'beta', 'beta 1'), await make('2026-11-01T09:00:00Z', 'beta', 'beta 2')]
    return { files: backend.files, alpha, beta }
  })()
  return history
}

async function repoWithHistory() {
  const { files, alpha, beta } = await makeHistory()
  const backend = new MemoryBackend()
  for (const [k, v] of files) backend.files.set(k, Uint8Array.from(v))
  const repo = await Repository.open({ backend, password: 'test' })
  return { base: tempDir('forget'), repo, backend, alpha, beta }
}

describe('forget on a repository', () => {
  test('removes exactly the decided snapshots; other hosts untouched; removed ones no longer restore', async () => {
    const { base, repo, alpha, beta } = await repoWithHistory()
    const progress: Array<{ removed: number; total: number }> = []
    const summary = await forget(repo, { keepDaily: 2, keepWeekly: 2 }, { host: 'alpha', timeZone: 'UTC', onProgress: (p) => progress.push(p) })
    // days newest first: 11-23 (09:00 kept), 11-22 (08:00 kept); weeks: 2026-W48 starts Monday 11-23,
    // so Sunday 11-22 is the newest of 2026-W47
    const keptIds = [alpha['2026-11-23T09:00:00Z'], alpha['2026-11-22T08:00:00Z']]
    const removedIds = [alpha['2026-11-23T08:00:00Z'], alpha['2026-11-21T20:00:00Z'], alpha['2026-11-21T08:00:00Z'], alpha['2026-11-20T08:00:00Z']]
    assert.equal(summary.dryRun, false)
    assert.equal(summary.groups.length, 1)
    assert.match(summary.groups[0].key, /^host="alpha" paths=\[".*notes"\]$/)
    assert.deepEqual(summary.groups[0].decisions.filter((d) => d.keep).map((d) => [d.snapshot.id, d.reasons]), [
      [keptIds[0], ['daily 2026-11-23', 'weekly 2026-W48']],
      [keptIds[1], ['daily 2026-11-22', 'weekly 2026-W47']],
    ])
    assert.equal(summary.kept, 2)
    assert.equal(summary.removed, 4)
    assert.deepEqual(summary.removedIds, removedIds)
    assert.ok(summary.durationMs >= 0)
    assert.deepEqual(progress.at(0), { removed: 0, total: 4 })
    assert.deepEqual(progress.at(-1), { removed: 4, total: 4 })

    const left = (await repo.snapshots()).map((s) => s.id).sort()
    assert.deepEqual(left, [...keptIds, ...beta].sort())
    for (const id of removedIds) await assert.rejects(repo.restore(id, join(base, `out-${id}`)), { code: 'SNAPSHOT_NOT_FOUND' })
    for (const id of [...keptIds, beta[0]]) {
      const r = await repo.restore(id.slice(0, 12), join(base, `out-${id}`))
      assert.equal(r.filesRestored, 1)
    }
  })

  test('dryRun decides the same and removes nothing', async () => {
    const { repo, backend } = await repoWithHistory()
    const before = [...backend.files.keys()].sort()
    const dry = await forget(repo, { keepLast: 1 }, { dryRun: true, timeZone: 'UTC' })
    assert.equal(dry.dryRun, true)
    assert.equal(dry.removed, 6, '5 of alpha and 1 of beta would go')
    assert.equal(dry.kept, 2)
    assert.deepEqual([...backend.files.keys()].sort(), before)
    const real = await forget(repo, { keepLast: 1 }, { timeZone: 'UTC' })
    assert.deepEqual(real.removedIds, dry.removedIds)
    assert.equal((await repo.snapshots()).length, 2)
    // only snapshot files went: data, index, keys and config are all still there
    assert.deepEqual(
      [...backend.files.keys()].filter((k) => !k.startsWith('snapshots/')).sort(),
      before.filter((k) => !k.startsWith('snapshots/')),
    )
    // forgetting again is a no-op
    assert.equal((await forget(repo, { keepLast: 1 }, { timeZone: 'UTC' })).removed, 0)
  })

  test('an empty policy removes nothing; a policy matching nothing still keeps each group\'s newest', async () => {
    const { repo, alpha, beta } = await repoWithHistory()
    const none = await forget(repo, {})
    assert.equal(none.removed, 0)
    assert.equal(none.kept, 8)
    assert.ok(none.groups.every((g) => g.decisions.every((d) => d.reasons[0] === 'no policy')))
    const s = await forget(repo, { keepTags: ['does-not-exist'] }, { timeZone: 'UTC' })
    assert.equal(s.removed, 6)
    assert.deepEqual((await repo.snapshots()).map((x) => x.id).sort(), [alpha['2026-11-23T09:00:00Z'], beta[1]].sort())
  })

  test('groupBy [] puts all hosts in one group', async () => {
    const { repo, alpha } = await repoWithHistory()
    const s = await forget(repo, { keepLast: 1 }, { groupBy: [], dryRun: true })
    assert.deepEqual(s.groups.map((g) => g.key), ['all'])
    assert.deepEqual(s.groups[0].decisions.filter((d) => d.keep).map((d) => d.snapshot.id), [alpha['2026-11-23T09:00:00Z']])
  })

  test('an aborted forget removes nothing when aborted before it starts; bad policies fail before any I/O', async () => {
    const { repo } = await repoWithHistory()
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(forget(repo, { keepLast: 1 }, { signal: ac.signal }), { code: 'ABORTED' })
    await assert.rejects(forget(repo, { keepLast: -2 }), { code: 'INVALID_OPTIONS' })
    assert.equal((await repo.snapshots()).length, 8)
  })

  test('forgetSnapshots removes named snapshots by id prefix, and nothing when one name is wrong', async () => {
    const { base, repo, alpha, beta } = await repoWithHistory()
    const a = alpha['2026-11-20T08:00:00Z']
    await assert.rejects(forgetSnapshots(repo, [a.slice(0, 8), 'ffffffffffff']), { code: 'SNAPSHOT_NOT_FOUND' })
    await assert.rejects(forgetSnapshots(repo, [a.slice(0, 8), 'latest']), { code: 'INVALID_OPTIONS' })
    assert.equal((await repo.snapshots()).length, 8)
    const dry = await forgetSnapshots(repo, [a.slice(0, 8)], { dryRun: true })
    assert.deepEqual(dry.removedIds, [a])
    assert.equal((await repo.snapshots()).length, 8)
    const s = await forgetSnapshots(repo, [a.slice(0, 8), a, beta[1].slice(0, 10)])
    assert.deepEqual(s.removedIds, [beta[1], a], 'oldest first, each once')
    assert.equal(s.removed, 2)
    assert.equal((await repo.snapshots()).length, 6)
    await assert.rejects(repo.restore(a, join(base, 'gone')), { code: 'SNAPSHOT_NOT_FOUND' })
  })
})
