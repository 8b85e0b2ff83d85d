import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as tick, setTimeout as delay } from 'node:timers/promises'
import { runInNewContext } from 'node:vm'
import { YoungGarbage } from '../src/runtime/young-gc.js'

const MiB = 1024 * 1024

test('YoungGarbage frees dropped output buffers once enough bytes were noted, and leaves no gc global behind', async () => {
  // V8 may collect on its own while the garbage piles up (then the pile is missing): try again.
  let checked = false
  for (let attempt = 0; attempt < 5 && !checked; attempt++) {
    const garbage = new YoungGarbage(16 * MiB)
    await tick()
    const before = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 24; i++) {
      const b = Buffer.allocUnsafeSlow(MiB) // outside the JS heap, like node:crypto's outputs
      b[0] = i
      garbage.add(MiB / 2) // 12 MiB noted in all: below the threshold
    }
    const piled = process.memoryUsage().arrayBuffers
    if (piled < before + 20 * MiB) continue
    garbage.add(4 * MiB) // reaches 16 MiB: collects
    // The freed buffers are swept off the thread: give that up to 200 ms.
    let after = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 20 && after > piled - 20 * MiB; i++) {
      await delay(10)
      after = process.memoryUsage().arrayBuffers
    }
    assert.ok(after <= piled - 20 * MiB, `collected: ${(piled - before) / MiB} MiB piled, ${(after - before) / MiB} MiB left`)
    checked = true
  }
  assert.ok(checked, 'V8 collected the garbage on its own every time: nothing was checked')
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'no gc global here')
  assert.equal(runInNewContext('typeof gc'), 'undefined', 'nor in contexts made afterwards')
})
