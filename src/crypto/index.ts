/**
 * Crypto layer.
 * - Master key material: 32 random bytes; subkeys (encryption, blob id, chunker) derive from it by HKDF.
 * - Key file: the master key sealed under a passphrase (Argon2id) or a raw key.
 * - Blob id: keyed HMAC-SHA256 of a blob's plaintext.
 * - Sealing: AES-256-GCM of blobs and of standalone files.
 */
export * from './keys.js'
export * from './ids.js'
export * from './seal.js'
export * from './keyfile.js'
