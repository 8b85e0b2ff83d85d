import { hkdfSync, randomBytes } from 'node:crypto'
import { hostname, userInfo } from 'node:os'
import { z } from 'zod'

/** Any byte array (typed as the ArrayBufferLike-backed Uint8Array that Buffers are). */
const bytes = () => z.custom<Uint8Array>((v): boolean => v instanceof Uint8Array, 'must be bytes')
import { decode, encode } from '../codec/index.js'
import { MASTER_KEY_BYTES } from './keys.js'
import { xchachaOpen, xchachaSeal } from './xchacha.js'

/**
 * Key files: a plaintext envelope that holds the master key material sealed (XChaCha20-Poly1305)
 * under a key-encryption key (KEK). The KEK comes from a passphrase through Argon2id, or directly
 * from a raw 32-byte key. Several key files can open one repository.
 */

export interface Argon2Params {
  /** Passes over memory (libsodium opslimit). */
  opsLimit: number
  /** Memory in bytes. */
  memLimitBytes: number
}

/** RFC 9106's second recommended setting: 64 MiB, 3 passes. */
export const DEFAULT_ARGON2: Argon2Params = { opsLimit: 3, memLimitBytes: 64 * 1024 * 1024 }
const MAX_MEM = 4 * 1024 * 1024 * 1024
const MAX_OPS = 64
const AAD = Buffer.from('session-sync key file v1')

export type Secret = { password: string } | { key: Uint8Array }

const kdfSchema = z.discriminatedUnion('alg', [
  z.object({
    alg: z.literal('argon2id13'),
    opsLimit: z.number().int().min(1).max(MAX_OPS),
    memLimitBytes: z.number().int().min(8192).max(MAX_MEM),
    salt: bytes().refine((s) => s.length === 16, 'salt must be 16 bytes'),
  }),
  z.object({
    alg: z.literal('raw'),
    salt: bytes().refine((s) => s.length === 32, 'salt must be 32 bytes'),
  }),
])

const keyFileSchema = z.object({
  v: z.literal(1),
  kdf: kdfSchema,
  host: z.string().max(1024),
  user: z.string().max(1024),
  created: z.string().max(64),
  sealed: bytes().refine((s) => s.length === 24 + MASTER_KEY_BYTES + 16, 'sealed key has the wrong length'),
})

export type KeyFile = z.infer<typeof keyFileSchema>

export interface KeyFileInfo {
  kdf: 'argon2id13' | 'raw'
  host: string
  user: string
  created: string
}

type Sodium = typeof import('libsodium-wrappers-sumo')
let sodium: Promise<Sodium> | undefined
/** libsodium (WebAssembly) loads only for Argon2id: a raw key opens a repository without it. */
async function lib(): Promise<Sodium> {
  sodium ??= import('libsodium-wrappers-sumo').then(async (m) => {
    const s = ((m as unknown as { default?: Sodium }).default ?? m) as Sodium
    await s.ready
    return s
  })
  return sodium
}

async function kek(secret: Secret, kdf: KeyFile['kdf']): Promise<Uint8Array> {
  if (kdf.alg === 'raw') {
    if (!('key' in secret)) throw new KekMismatch()
    if (secret.key.length !== 32) throw new TypeError('a raw key must be 32 bytes')
    return Buffer.from(hkdfSync('sha256', secret.key, kdf.salt, 'session-sync/v1/kek', 32))
  }
  if (!('password' in secret)) throw new KekMismatch()
  const s = await lib()
  return s.crypto_pwhash(32, Buffer.from(secret.password, 'utf8'), kdf.salt, kdf.opsLimit, kdf.memLimitBytes, s.crypto_pwhash_ALG_ARGON2ID13)
}

/** The secret is of the other kind than this key file (password vs raw key). */
class KekMismatch extends Error {}

export async function createKeyFile(master: Uint8Array, secret: Secret, argon2: Argon2Params = DEFAULT_ARGON2): Promise<Buffer> {
  const kdf: KeyFile['kdf'] =
    'password' in secret
      ? { alg: 'argon2id13', opsLimit: argon2.opsLimit, memLimitBytes: argon2.memLimitBytes, salt: randomBytes(16) }
      : { alg: 'raw', salt: randomBytes(32) }
  const nonce = randomBytes(24)
  const box = xchachaSeal(await kek(secret, kdf), nonce, master, AAD)
  const file: KeyFile = {
    v: 1,
    kdf,
    host: hostname(),
    user: safeUser(),
    created: new Date().toISOString(),
    sealed: Buffer.concat([nonce, box]),
  }
  return encode(file)
}

function safeUser(): string {
  try {
    return userInfo().username
  } catch {
    return ''
  }
}

/** Parses and validates a key file; throws Error with the reason when it is malformed. */
export function parseKeyFile(bytes: Uint8Array): KeyFile {
  const r = keyFileSchema.safeParse(decode(bytes))
  if (!r.success) throw new Error(`invalid key file: ${r.error.issues[0]?.message ?? 'schema mismatch'}`)
  return r.data
}

export function keyFileInfo(k: KeyFile): KeyFileInfo {
  return { kdf: k.kdf.alg, host: k.host, user: k.user, created: k.created }
}

/** Returns the master key material, or undefined when the secret does not open this key file. */
export async function openKeyFile(k: KeyFile, secret: Secret): Promise<Buffer | undefined> {
  let key: Uint8Array
  try {
    key = await kek(secret, k.kdf)
  } catch (e) {
    if (e instanceof KekMismatch) return undefined
    throw e
  }
  return xchachaOpen(key, k.sealed.subarray(0, 24), k.sealed.subarray(24), AAD)
}
