import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { type Backend, versionedOf } from '../backend/backend.js'
import { AsOfBackend } from '../backend/as-of.js'
import { openFile, sealFile } from '../crypto/seal.js'
import { array, literal, object, optional, str } from '../codec/schema.js'
import { CorruptObjectError, InvalidOptionsError, ObjectNotFoundError, OwnerKeyError } from '../errors/index.js'
import type { JournalRecord } from './journal.js'
import { decodeObject, encodeObject, PROTECTED_FORMAT_VERSION } from './repofile.js'
import type { Repository } from './repository.js'

/**
 * The owner key of a protected repository: an Ed25519 key pair that signs the removal journal.
 *
 * The journal is sealed with the repository key, which every writer holds (it needs it to back up):
 * sealing alone cannot tell the owner's records from a compromised writer's forgery. So a trusted
 * operation also signs each record with the owner's private key, which never enters the repository,
 * the agent's machine or its sync state; `checkVersions` counts only records whose signature the
 * recorded public key verifies as explanations.
 *
 * The public key is stored once, sealed, as `journal/<OWNER_KEY_NAME>` (a name no journal record can
 * have: theirs are the SHA-256 of their bytes). It is never rewritten: recording it refuses when any
 * version exists, and readers take its OLDEST version (on versioned storage, which a protected
 * repository needs), so a writer that stores another public key under the name only adds a newer
 * version — which `checkVersions` reports as an overwrite — and changes nothing. A writer can store
 * the name first only in a repository whose owner has not recorded a key yet: `init --protect` records
 * it before any writer holds a credential.
 */
export const OWNER_KEY_NAME = '0'.repeat(64)

const ownerKeySchema = object({
  v: literal(PROTECTED_FORMAT_VERSION),
  alg: literal('ed25519'),
  /** The raw 32-byte public key, base64url. */
  publicKey: str(64),
  created: str(64),
  /**
   * The journal records stored before the key was recorded (`key owner --init` in a repository made
   * before): unsigned, they still explain their deletes. Any other unsigned record is a forgery.
   */
  earlier: optional(array(str(64), 10_000_000)),
})

/** An owner public key as recorded: the raw 32 bytes, base64url. */
export const OWNER_PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/

/** The sealing kind of the owner key object. */
const KIND = 'owner-key'

/** What the signature of a journal record covers, and a domain no other signed text shares. */
const DOMAIN = 'session-sync-cloud removal journal record v1'

/** An owner key pair: the public half for the repository, the private half (PKCS#8 PEM) for the owner to keep. */
export interface OwnerKeyPair {
  /** The raw Ed25519 public key, base64url (43 characters). */
  publicKey: string
  /** PKCS#8 PEM: the owner keeps it off the agent's machine, like the repository password. */
  privateKey: string
}

/** The owner's public key as the repository records it. */
export interface RecordedOwnerKey {
  publicKey: string
  /** When the storage stored it (its oldest version), where it tells. */
  storedAt?: Date
  /** The journal records stored before it (unsigned, written before the repository had an owner key). */
  earlier: string[]
}

/** Makes a new owner key pair. */
export function generateOwnerKey(): OwnerKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519')
  return { publicKey: publicKeyOf(privateKey), privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }
}

/** Reads an owner's private key (PKCS#8 PEM, as `generateOwnerKey` gives it); INVALID_OPTIONS if it is none. */
export function parseOwnerKey(text: string | Uint8Array): KeyObject {
  let key: KeyObject
  try {
    key = createPrivateKey({ key: Buffer.from(text), format: 'pem' })
  } catch (e) {
    throw new InvalidOptionsError(`the owner key cannot be read (${(e as Error).message}): give the PEM file "init --protect" or "key owner --init" wrote`)
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new InvalidOptionsError(`the owner key is an ${key.asymmetricKeyType} key, not the Ed25519 key "init --protect" or "key owner --init" wrote`)
  return key
}

/** The raw public key (base64url) of an owner's private key. */
export function publicKeyOf(privateKey: KeyObject): string {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  return jwk.x as string
}

/** A short fingerprint of a public key to show people (the first 16 characters). */
export const ownerKeyFingerprint = (publicKey: string): string => publicKey.slice(0, 16)

function signedBytes(repositoryId: string, r: JournalRecord): Buffer {
  return Buffer.from(JSON.stringify([DOMAIN, repositoryId, r.v, r.time, r.host, r.operation, r.removed]))
}

/** The record with its signature by the owner's private key, bound to the repository's id. */
export function signJournalRecord(record: JournalRecord, repositoryId: string, privateKey: KeyObject): JournalRecord {
  const { sig: _, ...rest } = record
  return { ...rest, sig: sign(null, signedBytes(repositoryId, rest), privateKey).toString('base64') }
}

/** Whether the record carries a signature the owner's `publicKey` verifies for this repository. */
export function verifyJournalRecord(record: JournalRecord, repositoryId: string, publicKey: string): boolean {
  if (record.sig === undefined) return false
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' })
    return verify(null, signedBytes(repositoryId, record), key, Buffer.from(record.sig, 'base64'))
  } catch {
    return false
  }
}

/** The storage under a repository (below a view of the past, whose storage has every version). */
function storageOf(repo: Repository): Backend {
  return repo.storage instanceof AsOfBackend ? repo.storage.storage : repo.storage
}

const handle = { type: 'journal', name: OWNER_KEY_NAME } as const

/**
 * The owner's public key the repository records: its oldest version on versioned storage (a later
 * one is a rewrite no owner makes), else the stored one; undefined where none is recorded.
 */
export async function readOwnerKey(repo: Repository): Promise<RecordedOwnerKey | undefined> {
  const storage = storageOf(repo)
  const store = versionedOf(storage)
  let bytes: Uint8Array
  let storedAt: Date | undefined
  if (store) {
    const versions = (await store.versions(handle)).filter((v) => !v.deleteMarker)
    if (versions.length === 0) return undefined
    versions.sort((a, b) => (a.modified?.getTime() ?? 0) - (b.modified?.getTime() ?? 0))
    bytes = await store.loadVersion(handle, versions[0].versionId)
    storedAt = versions[0].modified
  } else {
    try {
      bytes = await storage.load(handle)
    } catch (e) {
      if (e instanceof ObjectNotFoundError) return undefined
      throw e
    }
  }
  try {
    const k = decodeObject(ownerKeySchema, openFile(repo.keys.encryption, KIND, bytes))
    return { publicKey: k.publicKey, ...(storedAt ? { storedAt } : {}), earlier: k.earlier ?? [] }
  } catch (e) {
    throw new CorruptObjectError('journal', OWNER_KEY_NAME, `the owner key record cannot be read (${(e as Error).message}); its oldest version is not the owner's: the repository's journal cannot be trusted`, { cause: e })
  }
}

/**
 * Records the owner's public key, once: OWNER_KEY_EXISTS where any version of the record is stored
 * already (looked for first: some servers ignore If-None-Match on versioned buckets).
 */
export async function recordOwnerKey(repo: Repository, publicKey: string): Promise<void> {
  if (!OWNER_PUBLIC_KEY.test(publicKey)) throw new InvalidOptionsError('the owner public key must be a raw Ed25519 key, base64url (43 characters)')
  const storage = storageOf(repo)
  const store = versionedOf(storage)
  const existing = store ? (await store.versions(handle)).length > 0 : await storage.stat(handle).then(() => true, (e: unknown) => (e instanceof ObjectNotFoundError ? false : Promise.reject(e)))
  if (existing) {
    const recorded = await readOwnerKey(repo).catch(() => undefined)
    throw new OwnerKeyError('OWNER_KEY_EXISTS', `the repository records an owner key already${recorded ? ` (${ownerKeyFingerprint(recorded.publicKey)}…${recorded.storedAt ? `, stored ${recorded.storedAt.toISOString()}` : ''})` : ''}; it is never replaced. If you did not record it, a writer did: its journal records cannot be trusted, copy the repository out with "recover --as-of TIME --to LOCATION" and protect the copy`, { ...(recorded ? { publicKey: recorded.publicKey } : {}) })
  }
  // The records there now were written before any owner key: named, so they keep explaining their
  // deletes (by name, not by storage time, which a copy made by recover does not keep).
  const earlier: string[] = []
  for await (const f of repo.backend.list('journal')) if (f.name !== OWNER_KEY_NAME) earlier.push(f.name)
  const sealed = sealFile(repo.keys.encryption, KIND, encodeObject({ v: PROTECTED_FORMAT_VERSION, alg: 'ed25519', publicKey, created: new Date().toISOString(), ...(earlier.length > 0 ? { earlier: earlier.sort() } : {}) }))
  await repo.backend.save(handle, sealed)
}
