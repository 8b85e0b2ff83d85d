// The shrink alarm: a memory file that loses more than shrink_alarm_percent of its lines in one sync
// is named in status() warnings and the sync log.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { validateConfigValue } from '../../src/index.js'
import { cleanup, tempDir } from '../helpers.js'
import { seededWorkspace } from '../dashboard/support.js'

after(cleanup)

describe('shrink alarm', () => {
  it('names MEMORY.md (6 -> 2 lines) in status and the sync log at the default 30 %', async () => {
    const s = await seededWorkspace(tempDir('shrink'))
    try {
      const w = (await s.sync.status()).warnings.filter((x) => x.startsWith('shrink alarm'))
      assert.equal(w.length, 2)
      assert.match(w[0], /MEMORY\.md lost 67% of its lines in one sync \(6 -> 2\)/)
      assert.match(w[1], /memory\/2026-12-01\.md lost 50%/)
      const logged = s.sync.log().filter((e) => e.kind === 'shrink')
      assert.deepEqual(logged.map((e) => e.detail?.path).sort(), ['MEMORY.md', 'memory/2026-12-01.md'])
      assert.ok(logged.every((e) => e.result === 'warning' && e.snapshot === s.snapshots[2]))
    } finally {
      await s.sync.close()
    }
  })

  it('keeps quiet below the threshold (60 %: only MEMORY.md)', async () => {
    const s = await seededWorkspace(tempDir('shrink'), { config: { shrink_alarm_percent: 60 } })
    try {
      const w = (await s.sync.status()).warnings.filter((x) => x.startsWith('shrink alarm'))
      assert.equal(w.length, 1)
      assert.match(w[0], /MEMORY\.md/)
    } finally {
      await s.sync.close()
    }
  })

  it('validates shrink_alarm_percent', () => {
    assert.throws(() => validateConfigValue({ shrink_alarm_percent: 0 }, 'test'), /shrink_alarm_percent/)
    assert.throws(() => validateConfigValue({ shrink_alarm_percent: 120 }, 'test'), /shrink_alarm_percent/)
    validateConfigValue({ shrink_alarm_percent: 30 }, 'test')
  })
})
