// The progress line's first tick shows no ETA (its rate, over a few microseconds, says nothing).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ProgressLine } from '../../src/cli/progress.js'

test('the first progress tick shows no absurd ETA', () => {
  let written = ''
  const stream = { isTTY: true, columns: 200, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream
  const bar = new ProgressLine(stream)
  bar.update('backup', 0, 1000, 1, 10 * 1024 ** 3)
  assert.match(written, /ETA --:--/)
})
