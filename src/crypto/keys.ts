import { hkdfSync, randomBytes } from 'node:crypto'

/** 32 bytes of random master key material: the one secret every other key is derived from. */
export const MASTER_KEY_BYTES = 32

/** The subkeys one repository uses, all derived from its master key material. */
export interface RepositoryKeys {
  /** Derives per-blob and per-file AES-256-GCM keys. */
  readonly encryption: Buffer
  /** Keys the HMAC-SHA256 that names blobs, so ids do not reveal content. */
  readonly blobId: Buffer
  /** Keys the chunker's gear table, so cut points do not fingerprint known files. */
  readonly chunker: Buffer
}

export function newMasterKey(): Buffer {
  return randomBytes(MASTER_KEY_BYTES)
}

function subkey(master: Uint8Array, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `session-sync/v1/${label}`, 32))
}

export function deriveKeys(master: Uint8Array): RepositoryKeys {
  if (master.length !== MASTER_KEY_BYTES) throw new TypeError('master key material must be 32 bytes')
  return {
    encryption: subkey(master, 'encryption'),
    blobId: subkey(master, 'blob-id'),
    chunker: subkey(master, 'chunker'),
  }
}
