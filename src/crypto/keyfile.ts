import * as nodeCrypto from 'node:crypto'
import { hkdfSync, randomBytes } from 'node:crypto'
import { hostname, userInfo } from 'node:os'
import { decode, encode } from '../codec/index.js'
import { InvalidOptionsError } from '../errors/index.js'
import { bytes, int, literal, object, parse, SchemaError, str, variant, type Infer } from '../codec/schema.js'
import { argon2idOnWorker, discardWarmArgon2idWorker } from './argon2-worker.js'
import { MASTER_KEY_BYTES } from './keys.js'
import { xchachaOpen, xchachaSeal } from './xchacha.js'

/**
 * Key files: a plaintext envelope that holds the master key material sealed (XChaCha20-Poly1305)
 * under a key-encryption key (KEK). The KEK comes from a passphrase through Argon2id, or directly
 * from a raw 32-byte key. Several key files can open one repository.
 *
 * Version 2 keeps only what opening needs outside (the KDF settings and salt, and the sealed master
 * key); the host, user and creation time are sealed under a key derived from the master key, so any
 * holder of the repository key can list every key file, and the storage learns none of it. Version 1
 * files (those three in plaintext) still open.
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
const META_AAD = Buffer.from('session-sync key file v2 metadata')
/** Current key file version: 2 (metadata sealed). */
export const KEY_FILE_VERSION = 2

export type Secret = { password: string } | { key: Uint8Array }

const kdfSchema = variant('alg', {
  argon2id13: object({
    alg: literal('argon2id13'),
    opsLimit: int(1, MAX_OPS),
    memLimitBytes: int(8192, MAX_MEM),
    salt: bytes({ length: 16 }, 'salt must be 16 bytes'),
  }),
  raw: object({
    alg: literal('raw'),
    salt: bytes({ length: 32 }, 'salt must be 32 bytes'),
  }),
})

const sealedMaster = bytes({ length: 24 + MASTER_KEY_BYTES + 16 }, 'sealed key has the wrong length')

const keyFileV1Schema = object({
  v: literal(1),
  kdf: kdfSchema,
  host: str(1024),
  user: str(1024),
  created: str(64),
  sealed: sealedMaster,
})

const keyFileV2Schema = object({
  v: literal(2),
  kdf: kdfSchema,
  sealed: sealedMaster,
  /** nonce(24) ‖ XChaCha20-Poly1305 of the encoded metadata, under a key derived from the master key. */
  meta: bytes({}, 'metadata must be bytes'),
})

const keyMetaSchema = object({ host: str(1024), user: str(1024), created: str(64) })

export type KeyFile = Infer<typeof keyFileV1Schema> | Infer<typeof keyFileV2Schema>

export interface KeyFileInfo {
  kdf: 'argon2id13' | 'raw'
  host: string
  user: string
  created: string
}

/** Argon2id v1.3, parallelism 1, 32-byte output: what libsodium's crypto_pwhash(ARGON2ID13) computes. */
export type Argon2id = (password: Uint8Array, salt: Uint8Array, params: Argon2Params) => Promise<Uint8Array>

type NodeArgon2 = (
  algorithm: 'argon2id',
  parameters: { message: Uint8Array; nonce: Uint8Array; parallelism: number; tagLength: number; memory: number; passes: number },
  callback: (err: Error | null, derivedKey: Buffer) => void,
) => void
const nodeArgon2 = (nodeCrypto as { argon2?: NodeArgon2 }).argon2

/**
 * node:crypto's Argon2id (Node >= 24.7: native, off the main thread, no WebAssembly to load), or
 * undefined on older Node. Memory is in KiB there; libsodium takes bytes and rounds down to KiB.
 */
export const argon2idNative: Argon2id | undefined = nodeArgon2
  ? (password, salt, p) =>
      new Promise((resolve, reject) => {
        const parameters = { message: password, nonce: salt, parallelism: 1, tagLength: 32, memory: Math.floor(p.memLimitBytes / 1024), passes: p.opsLimit }
        nodeArgon2('argon2id', parameters, (err, key) => (err ? reject(err) : resolve(key)))
      })
  : undefined

/** libsodium's Argon2id (WebAssembly): works on every Node version. */
export const argon2idLibsodium: Argon2id = async (password, salt, p) => {
  const s = await lib()
  return s.crypto_pwhash(32, password, salt, p.opsLimit, p.memLimitBytes, s.crypto_pwhash_ALG_ARGON2ID13)
}

/**
 * libsodium's Argon2id on a short-lived worker thread (see argon2idOnWorker): the one started
 * ahead by `warmArgon2idWorker` if there is one. Costs one thread start (~30–80 ms) otherwise.
 */
export const argon2idLibsodiumWorker: Argon2id = argon2idOnWorker

/** KDF memory from which the libsodium path runs on a worker thread (below it, in-thread is cheaper). */
const WORKER_KDF_MEMORY = 32 * 1024 * 1024

type Sodium = typeof import('libsodium-wrappers-sumo')
let sodium: Promise<Sodium> | undefined
/** libsodium (WebAssembly) loads only for Argon2id without node:crypto's: a raw key never needs it. */
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
    // A worker started ahead for a password (the CLI guessed wrong) is not needed.
    discardWarmArgon2idWorker()
    return Buffer.from(hkdfSync('sha256', secret.key, kdf.salt, 'session-sync/v1/kek', 32))
  }
  if (!('password' in secret)) throw new KekMismatch()
  const onWorker = kdf.memLimitBytes >= WORKER_KDF_MEMORY
  // A cheap key derives here sooner than on a worker started ahead, which is stopped (measured on
  // Node 20, 8 MiB: `snapshots` 0.325 s here, 0.37 s taking it).
  if (!onWorker) discardWarmArgon2idWorker()
  const kdfFn = argon2idNative ?? (onWorker ? argon2idLibsodiumWorker : argon2idLibsodium)
  return kdfFn(Buffer.from(secret.password, 'utf8'), kdf.salt, kdf)
}

/** The secret is of the other kind than this key file (password vs raw key). */
class KekMismatch extends Error {}

/** The bounds parseKeyFile enforces: a key file outside them could never be opened again. */
function checkArgon2Params({ opsLimit, memLimitBytes }: Argon2Params): void {
  if (!Number.isInteger(opsLimit) || opsLimit < 1 || opsLimit > MAX_OPS) {
    throw new InvalidOptionsError(`Argon2id passes must be an integer from 1 to ${MAX_OPS}, not ${opsLimit}`)
  }
  if (!Number.isInteger(memLimitBytes) || memLimitBytes < 8192 || memLimitBytes > MAX_MEM) {
    throw new InvalidOptionsError(`Argon2id memory must be an integer number of bytes from 8 KiB to 4 GiB, not ${memLimitBytes}`)
  }
}

export async function createKeyFile(master: Uint8Array, secret: Secret, argon2: Argon2Params = DEFAULT_ARGON2): Promise<Buffer> {
  if ('password' in secret) checkArgon2Params(argon2)
  const kdf: KeyFile['kdf'] =
    'password' in secret
      ? { alg: 'argon2id13', opsLimit: argon2.opsLimit, memLimitBytes: argon2.memLimitBytes, salt: randomBytes(16) }
      : { alg: 'raw', salt: randomBytes(32) }
  const nonce = randomBytes(24)
  const box = xchachaSeal(await kek(secret, kdf), nonce, master, AAD)
  const metaNonce = randomBytes(24)
  const meta = encode({ host: hostname(), user: safeUser(), created: new Date().toISOString() })
  const file: KeyFile = {
    v: 2,
    kdf,
    sealed: Buffer.concat([nonce, box]),
    meta: Buffer.concat([metaNonce, xchachaSeal(metaKey(master), metaNonce, meta, META_AAD)]),
  }
  return encode(file)
}

/** The key that seals key files' metadata: derived from the master key, so any opener can read it. */
function metaKey(master: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'session-sync/v2/key-file-metadata', 32))
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
  const value = decode(bytes)
  try {
    return (value as { v?: unknown })?.v === 2 ? parse(keyFileV2Schema, value) : parse(keyFileV1Schema, value)
  } catch (e) {
    if (e instanceof SchemaError) throw new Error(`invalid key file: ${e.issue}`)
    throw e
  }
}

/**
 * What a key file says about itself. Version 2 seals host, user and creation time under the master
 * key: without it (or when they do not open, e.g. another repository's key file) they read as ''.
 */
export function keyFileInfo(k: KeyFile, master?: Uint8Array): KeyFileInfo {
  if (k.v === 1) return { kdf: k.kdf.alg, host: k.host, user: k.user, created: k.created }
  const none = { kdf: k.kdf.alg, host: '', user: '', created: '' }
  if (!master || k.meta.length < 24 + 16) return none
  try {
    const plain = xchachaOpen(metaKey(master), k.meta.subarray(0, 24), k.meta.subarray(24), META_AAD)
    if (!plain) return none
    return { kdf: k.kdf.alg, ...parse(keyMetaSchema, decode(plain)) }
  } catch {
    return none
  }
}

/**
 * Why a key file is not tried with this secret under these bounds, or undefined when it is. A key
 * file of the other kind (a raw key's for a password) is not an error: the secret simply does not
 * fit it, and undefined is returned (openKeyFile then returns undefined without work).
 */
export function kdfOverBound(k: KeyFile, bounds: { maxKdfMemory: number; maxKdfPasses: number }): 'memory' | 'passes' | undefined {
  if (k.kdf.alg !== 'argon2id13') return undefined
  if (k.kdf.memLimitBytes > bounds.maxKdfMemory) return 'memory'
  if (k.kdf.opsLimit > bounds.maxKdfPasses) return 'passes'
  return undefined
}

/** Whether the secret is of the kind this key file is opened with (a password, or a raw key). */
export function fitsSecret(k: KeyFile, secret: Secret): boolean {
  return k.kdf.alg === 'raw' ? 'key' in secret : 'password' in secret
}

/** Relative cost of deriving this key file's KEK (memory × passes; a raw key costs nothing). */
export function kdfCost(k: KeyFile): number {
  return k.kdf.alg === 'raw' ? 0 : k.kdf.memLimitBytes * k.kdf.opsLimit
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
