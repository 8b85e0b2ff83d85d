// The pacer that slices work on the calling thread. Time here is a clock the test moves: a task's
// "work" advances it, so what is checked is how much work runs between two turns of the event loop,
// not how long anything took.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Pacer } from '../src/runtime/pace.js'

test('tasks that yielded together do not all run in the next turn: one slice (and one step) of work per turn', async () => {
  let clock = 0
  const pacer = new Pacer(10, () => clock)
  const STEP = 3
  // An observer that runs once per turn (it queues itself for the next): the work done between two
  // of its runs spans at most two turns' check phases.
  let sinceObserved = 0
  let worst = 0
  let running = true
  const observe = () => {
    worst = Math.max(worst, sinceObserved)
    sinceObserved = 0
    if (running) setImmediate(observe)
  }
  setImmediate(observe)
  // A hundred tasks (files finishing at once), each: wait for its turn as the pacer says, then a step.
  const task = async () => {
    for (let i = 0; i < 3; i++) {
      await pacer.maybe()
      clock += STEP
      sinceObserved += STEP
    }
  }
  clock += 10 // the slice is used up before they start
  await Promise.all(Array.from({ length: 100 }, task))
  running = false
  assert.ok(worst <= 2 * (10 + STEP), `work between two turns: ${worst} (ms on the test's clock)`)
  assert.ok(worst > 0)
})

test('a lone task yields once its slice is used up, and not before', async () => {
  let clock = 0
  const pacer = new Pacer(10, () => clock)
  assert.equal(pacer.maybe(), undefined)
  clock += 9
  assert.equal(pacer.maybe(), undefined)
  clock += 1
  const turn = pacer.maybe()
  assert.ok(turn instanceof Promise)
  await turn
  assert.equal(pacer.due(), false, 'a new slice began')
})
