// The library's typed errors.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SessionSyncError, WrongPasswordError } from '../src/errors/index.js'

test('an error of another copy of the library is still a SessionSyncError (a host may load the plugin twice); subclasses keep the ordinary check', async () => {
  const copy = (await import(`../src/errors/index.ts?copy=${Date.now()}`)) as typeof import('../src/errors/index.js')
  assert.notEqual(copy.SessionSyncError, SessionSyncError, 'a second copy of the module')
  const theirs = new copy.WrongPasswordError()
  assert.equal(theirs instanceof SessionSyncError, true)
  assert.equal(theirs instanceof WrongPasswordError, false)
  assert.equal(new WrongPasswordError() instanceof WrongPasswordError, true)
  assert.equal(new WrongPasswordError() instanceof SessionSyncError, true)
  assert.equal(new Error('x') instanceof SessionSyncError, false)
  assert.equal(Object.assign(new Error('x'), { code: 'WRONG_PASSWORD' }) instanceof SessionSyncError, false)
})
