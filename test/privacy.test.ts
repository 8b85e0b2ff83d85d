import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanup, memoryRepo, randomBytesSeeded, tempDir } from './helpers.js'

after(cleanup)

test('no plaintext file contents, file names or plain hashes appear in the stored bytes', async () => {
  const base = tempDir('priv')
  const src = join(base, 'private-folder-name')
  mkdirSync(join(src, 'diary-folder-marker'), { recursive: true })
  const text = 'MEMORY-CONTENT-MARKER the agent remembers the launch codes. '.repeat(200)
  writeFileSync(join(src, 'diary-folder-marker', 'secret-file-name-marker.md'), text)
  const random = randomBytesSeeded(50_000, 99)
  writeFileSync(join(src, 'random.bin'), random)
  writeFileSync(join(src, 'tiny'), 'TINY-MARKER')
  const { repo, backend } = await memoryRepo({ compression: 'off' }) // no compression: plaintext would show if it were not encrypted
  await repo.backup([src], { tags: ['TAG-MARKER'], host: 'HOST-MARKER' })
  const stored = Buffer.concat([...backend.files.values()])
  assert.ok(stored.length > 50_000)
  const needles: Array<[string, Buffer]> = [
    ['content', Buffer.from('MEMORY-CONTENT-MARKER')],
    ['tiny content', Buffer.from('TINY-MARKER')],
    ['file name', Buffer.from('secret-file-name-marker')],
    ['folder name', Buffer.from('diary-folder-marker')],
    ['source path', Buffer.from('private-folder-name')],
    ['tag', Buffer.from('TAG-MARKER')],
    ['host', Buffer.from('HOST-MARKER')],
    ['random content', random.subarray(1000, 1032)],
    ['unkeyed SHA-256 of a file', createHash('sha256').update(random).digest()],
    ['unkeyed SHA-256 of a text file', createHash('sha256').update(text).digest()],
  ]
  for (const [what, needle] of needles) assert.equal(stored.indexOf(needle), -1, `${what} found in the repository's stored bytes`)
  // The scan itself works: the key file's plaintext envelope names its KDF.
  assert.notEqual(stored.indexOf(Buffer.from('argon2id13')), -1)
})
