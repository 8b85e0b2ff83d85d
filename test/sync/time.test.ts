import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SessionSyncError } from '../../src/errors/index.js'
import { formatTime, parseTimeRef, resolveTimeRef, type TimeRef } from '../../src/sync/time.js'

const BERLIN = 'Europe/Berlin'
const NEW_YORK = 'America/New_York'

/** The instant and zone a time reference names (fails for `latest`). */
function at(input: string, opts: { now?: Date; timeZone?: string } = {}): { time: string; zone: string } {
  const ref = parseTimeRef(input, opts)
  assert.equal(ref.kind, 'time', input)
  if (ref.kind !== 'time') throw new Error('unreachable')
  assert.equal(ref.text, input.trim())
  return { time: ref.time.toISOString(), zone: ref.zone }
}

function rejects(f: () => unknown, code: string, ...parts: string[]): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SessionSyncError, String(e))
    assert.equal(e.code, code, e.message)
    for (const p of parts) assert.ok(e.message.includes(p), `${JSON.stringify(e.message)} should contain ${JSON.stringify(p)}`)
    return true
  })
}

describe('parseTimeRef', () => {
  test('latest and latest~N', () => {
    assert.deepEqual(parseTimeRef('latest'), { kind: 'latest', back: 0, text: 'latest' })
    assert.deepEqual(parseTimeRef(' latest~2 '), { kind: 'latest', back: 2, text: 'latest~2' })
    assert.deepEqual(parseTimeRef('LATEST~10'), { kind: 'latest', back: 10, text: 'LATEST~10' })
  })

  test('relative forms count back from now', () => {
    const now = new Date('2026-11-03T12:00:00Z')
    assert.deepEqual(at('30m', { now }), { time: '2026-11-03T11:30:00.000Z', zone: 'relative' })
    assert.deepEqual(at('1h', { now }), { time: '2026-11-03T11:00:00.000Z', zone: 'relative' })
    assert.deepEqual(at('2d', { now }), { time: '2026-11-01T12:00:00.000Z', zone: 'relative' })
    assert.deepEqual(at('1w', { now }), { time: '2026-10-27T12:00:00.000Z', zone: 'relative' })
  })

  test('ISO 8601 with an offset or Z: that instant, the zone is the offset', () => {
    assert.deepEqual(at('2026-11-03T10:00:00+01:00', { timeZone: NEW_YORK }), { time: '2026-11-03T09:00:00.000Z', zone: '+01:00' })
    assert.deepEqual(at('2026-11-03T09:00:00Z'), { time: '2026-11-03T09:00:00.000Z', zone: 'UTC' })
    assert.deepEqual(at('2026-11-03t09:00z'), { time: '2026-11-03T09:00:00.000Z', zone: 'UTC' })
    assert.deepEqual(at('2026-11-03 10:00:00.25-0530'), { time: '2026-11-03T15:30:00.250Z', zone: '-05:30' })
    assert.deepEqual(at('2026-11-03T10:00+05'), { time: '2026-11-03T05:00:00.000Z', zone: '+05:00' })
  })

  test('local times in Europe/Berlin, winter and summer, and a bare date is its midnight', () => {
    assert.deepEqual(at('2026-11-03T10:00', { timeZone: BERLIN }), { time: '2026-11-03T09:00:00.000Z', zone: BERLIN })
    assert.deepEqual(at('2026-11-03 10:00:00', { timeZone: BERLIN }), { time: '2026-11-03T09:00:00.000Z', zone: BERLIN })
    assert.deepEqual(at('2026-07-01 10:00', { timeZone: BERLIN }), { time: '2026-07-01T08:00:00.000Z', zone: BERLIN })
    assert.deepEqual(at('2026-11-03', { timeZone: BERLIN }), { time: '2026-11-02T23:00:00.000Z', zone: BERLIN })
    assert.deepEqual(at('2026-07-01', { timeZone: BERLIN }), { time: '2026-06-30T22:00:00.000Z', zone: BERLIN })
  })

  test('DST days in Europe/Berlin: a skipped time moves forward by the gap, a repeated one is the earlier', () => {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist and reads as 03:30 CEST.
    assert.equal(at('2026-03-29 01:59', { timeZone: BERLIN }).time, '2026-03-29T00:59:00.000Z')
    assert.equal(at('2026-03-29 02:30', { timeZone: BERLIN }).time, '2026-03-29T01:30:00.000Z')
    assert.equal(at('2026-03-29 03:00', { timeZone: BERLIN }).time, '2026-03-29T01:00:00.000Z')
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice, first at +02:00.
    assert.equal(at('2026-10-25 02:30', { timeZone: BERLIN }).time, '2026-10-25T00:30:00.000Z')
    assert.equal(at('2026-10-25 03:00', { timeZone: BERLIN }).time, '2026-10-25T02:00:00.000Z')
  })

  test('local times in America/New_York, including its DST days', () => {
    assert.deepEqual(at('2026-11-03T10:00', { timeZone: NEW_YORK }), { time: '2026-11-03T15:00:00.000Z', zone: NEW_YORK })
    assert.equal(at('2026-07-04 12:00', { timeZone: NEW_YORK }).time, '2026-07-04T16:00:00.000Z')
    assert.equal(at('2026-03-08 02:30', { timeZone: NEW_YORK }).time, '2026-03-08T07:30:00.000Z') // skipped: 03:30 EDT
    assert.equal(at('2026-11-01 01:30', { timeZone: NEW_YORK }).time, '2026-11-01T05:30:00.000Z') // repeated: the EDT one
  })

  test('without a zone, local times are read in the process zone', () => {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone
    const ref = at('2026-11-03 10:00')
    assert.equal(ref.zone, zone)
    assert.equal(ref.time, at('2026-11-03 10:00', { timeZone: zone }).time)
  })

  test('anything else is rejected with the accepted forms and examples', () => {
    const forms = ['latest~2', '30m, 1h, 2d, 1w', '2026-11-03 10:00', '2026-11-03T10:00:00+01:00', '2026-11-03T09:00:00Z', 'read in Europe/Berlin']
    for (const bad of ['yesterday', '', 'latest~', '~2', '10:00', '3 days', '2026-11-3', '30s', '1M', '2026-11-03T10']) {
      rejects(() => parseTimeRef(bad, { timeZone: BERLIN }), 'INVALID_OPTIONS', `"${bad.trim()}"`, ...forms)
    }
    for (const bad of ['2026-02-30', '2026-13-01', '2026-04-00', '0050-01-01', '2026-11-03T24:00', '2026-11-03 10:60', '2026-11-03T10:00:61Z']) {
      rejects(() => parseTimeRef(bad, { timeZone: BERLIN }), 'INVALID_OPTIONS', 'is not a valid date and time', 'latest~2')
    }
    rejects(() => parseTimeRef('2026-11-03T10:00+25:00'), 'INVALID_OPTIONS', 'not a valid UTC offset')
    rejects(() => parseTimeRef('2026-11-03 10:00', { timeZone: 'Mars/Olympus' }), 'INVALID_OPTIONS', 'unknown time zone "Mars/Olympus"', 'Europe/Berlin')
  })
})

describe('resolveTimeRef', () => {
  const snap = (id: string, time: string) => ({ id, time: new Date(time), tag: `tag-${id}` })
  // Not in time order, on purpose.
  const snapshots = [
    snap('bbbbbbbb22222222', '2026-11-03T08:45:00Z'),
    snap('aaaaaaaa11111111', '2026-11-02T12:00:00Z'),
    snap('dddddddd44444444', '2026-11-03T11:00:00Z'),
    snap('cccccccc33333333', '2026-11-03T09:00:00Z'),
  ]

  test('latest and latest~N count from the newest', () => {
    const latest = resolveTimeRef(parseTimeRef('latest'), snapshots)
    assert.equal(latest.snapshot.id, 'dddddddd44444444')
    assert.equal(latest.snapshot.tag, 'tag-dddddddd44444444', 'the element comes back as it was given')
    assert.equal(latest.description, 'latest snapshot: dddddddd from 2026-11-03T11:00:00Z')
    const third = resolveTimeRef(parseTimeRef('latest~2'), snapshots)
    assert.equal(third.snapshot.id, 'bbbbbbbb22222222')
    assert.equal(third.description, '3rd newest snapshot (latest~2): bbbbbbbb from 2026-11-03T08:45:00Z')
    assert.equal(resolveTimeRef(parseTimeRef('latest~3'), snapshots).snapshot.id, 'aaaaaaaa11111111')
    rejects(() => resolveTimeRef(parseTimeRef('latest~4'), snapshots), 'SNAPSHOT_NOT_FOUND', 'latest~4')
    rejects(() => resolveTimeRef(parseTimeRef('latest'), []), 'SNAPSHOT_NOT_FOUND')
  })

  test('a time picks the newest snapshot at or before it, and says so in both zones', () => {
    const r = resolveTimeRef(parseTimeRef('2026-11-03 10:00', { timeZone: BERLIN }), snapshots)
    assert.equal(r.snapshot.id, 'cccccccc33333333', 'exactly at the time counts')
    assert.equal(r.description, 'newest snapshot at or before 2026-11-03 10:00 Europe/Berlin (2026-11-03T09:00:00Z): cccccccc from 2026-11-03T09:00:00Z')
    const before = resolveTimeRef(parseTimeRef('2026-11-03T08:59:59Z'), snapshots)
    assert.equal(before.snapshot.id, 'bbbbbbbb22222222')
    assert.equal(before.description, 'newest snapshot at or before 2026-11-03T08:59:59Z (2026-11-03T08:59:59Z): bbbbbbbb from 2026-11-03T08:45:00Z')
    const offset = resolveTimeRef(parseTimeRef('2026-11-03T12:00:00+01:00'), snapshots)
    assert.equal(offset.snapshot.id, 'dddddddd44444444')
    assert.match(offset.description, /^newest snapshot at or before 2026-11-03T12:00:00\+01:00 \(2026-11-03T11:00:00Z\): dddddddd/)
    const ago = resolveTimeRef(parseTimeRef('1d', { now: new Date('2026-11-04T09:00:00Z') }), snapshots)
    assert.equal(ago.snapshot.id, 'cccccccc33333333')
    assert.match(ago.description, /^newest snapshot at or before 1d ago \(2026-11-03T09:00:00Z\)/)
  })

  test('a time before every snapshot names the earliest; no snapshots at all is not found', () => {
    rejects(
      () => resolveTimeRef(parseTimeRef('2026-11-01', { timeZone: BERLIN }), snapshots),
      'INVALID_OPTIONS',
      'no snapshot at or before 2026-11-01 Europe/Berlin (2026-10-31T23:00:00Z): the earliest is aaaaaaaa from 2026-11-02T12:00:00Z',
    )
    rejects(() => resolveTimeRef(parseTimeRef('1h'), []), 'SNAPSHOT_NOT_FOUND', '1h')
  })
})

describe('formatTime', () => {
  test('local time with the offset in force, milliseconds only when there are some', () => {
    assert.equal(formatTime(new Date('2026-11-03T09:00:00Z'), BERLIN), '2026-11-03 10:00:00+01:00')
    assert.equal(formatTime(new Date('2026-07-01T08:00:00Z'), BERLIN), '2026-07-01 10:00:00+02:00')
    assert.equal(formatTime(new Date('2026-11-03T15:00:00.5Z'), NEW_YORK), '2026-11-03 10:00:00.500-05:00')
    assert.equal(formatTime(new Date('2026-01-01T00:00:00Z'), 'Asia/Kolkata'), '2026-01-01 05:30:00+05:30')
    assert.equal(formatTime(new Date('2026-01-01T00:00:00Z'), 'UTC'), '2026-01-01 00:00:00+00:00')
    // The repeated hour of 2026-10-25 in Berlin: the same wall time, told apart by the offset.
    assert.equal(formatTime(new Date('2026-10-25T00:30:00Z'), BERLIN), '2026-10-25 02:30:00+02:00')
    assert.equal(formatTime(new Date('2026-10-25T01:30:00Z'), BERLIN), '2026-10-25 02:30:00+01:00')
  })

  test('parseTimeRef reads formatTime back to the same instant, in any zone it is read in', () => {
    const zones = [BERLIN, NEW_YORK, 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/St_Johns', 'UTC']
    const instants = [
      '2026-03-29T00:59:59.999Z', '2026-03-29T01:00:00Z', '2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z',
      '2026-03-08T07:30:00Z', '2026-11-01T05:30:00Z', '2026-11-01T06:30:00.123Z', '1999-12-31T23:59:59Z', '2040-02-29T12:00:00Z',
    ].map((t) => new Date(t))
    for (let i = 0; i < 200; i++) instants.push(new Date(Date.UTC(2026, 0, 1) + Math.floor(((i * 7919) % 1000) / 1000 * 365 * 86_400_000) + i * 1_234_567))
    for (const zone of zones) {
      for (const d of instants) {
        const text = formatTime(d, zone)
        const ref: TimeRef = parseTimeRef(text, { timeZone: zones[(zones.indexOf(zone) + 1) % zones.length] })
        assert.ok(ref.kind === 'time' && ref.time.getTime() === d.getTime(), `${d.toISOString()} in ${zone} → ${text} → ${ref.kind === 'time' ? ref.time.toISOString() : ref.kind}`)
      }
    }
  })

  test('without a zone it writes the process zone', () => {
    const d = new Date('2026-11-03T09:00:00Z')
    assert.equal(formatTime(d), formatTime(d, Intl.DateTimeFormat().resolvedOptions().timeZone))
  })
})
