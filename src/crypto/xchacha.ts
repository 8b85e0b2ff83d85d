import { createCipheriv, createDecipheriv } from 'node:crypto'

/**
 * XChaCha20-Poly1305 (IETF) on node:crypto: HChaCha20 derives a subkey from the key and the first
 * 16 nonce bytes, then ChaCha20-Poly1305 runs with the last 8 nonce bytes. Byte-for-byte what
 * libsodium's crypto_aead_xchacha20poly1305_ietf_* produce, without loading libsodium, so opening a
 * repository with a raw key needs no WebAssembly at all.
 */

function rotl(v: number, c: number): number {
  return (v << c) | (v >>> (32 - c))
}

/** HChaCha20(key, 16-byte input) → 32-byte subkey. */
export function hchacha20(key: Uint8Array, input: Uint8Array): Buffer {
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength)
  const n = Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  const s = new Uint32Array(16)
  s[0] = 0x61707865
  s[1] = 0x3320646e
  s[2] = 0x79622d32
  s[3] = 0x6b206574
  for (let i = 0; i < 8; i++) s[4 + i] = k.readUInt32LE(i * 4)
  for (let i = 0; i < 4; i++) s[12 + i] = n.readUInt32LE(i * 4)
  const qr = (a: number, b: number, c: number, d: number) => {
    s[a] += s[b]
    s[d] = rotl(s[d] ^ s[a], 16)
    s[c] += s[d]
    s[b] = rotl(s[b] ^ s[c], 12)
    s[a] += s[b]
    s[d] = rotl(s[d] ^ s[a], 8)
    s[c] += s[d]
    s[b] = rotl(s[b] ^ s[c], 7)
  }
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12)
    qr(1, 5, 9, 13)
    qr(2, 6, 10, 14)
    qr(3, 7, 11, 15)
    qr(0, 5, 10, 15)
    qr(1, 6, 11, 12)
    qr(2, 7, 8, 13)
    qr(3, 4, 9, 14)
  }
  const out = Buffer.alloc(32)
  for (let i = 0; i < 4; i++) out.writeUInt32LE(s[i] >>> 0, i * 4)
  for (let i = 0; i < 4; i++) out.writeUInt32LE(s[12 + i] >>> 0, 16 + i * 4)
  return out
}

function parts(key: Uint8Array, nonce: Uint8Array): { subkey: Buffer; iv: Buffer } {
  if (key.length !== 32 || nonce.length !== 24) throw new TypeError('XChaCha20-Poly1305 needs a 32-byte key and a 24-byte nonce')
  const iv = Buffer.alloc(12)
  iv.set(nonce.subarray(16, 24), 4)
  return { subkey: hchacha20(key, nonce.subarray(0, 16)), iv }
}

/** ciphertext ‖ tag(16) */
export function xchachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const { subkey, iv } = parts(key, nonce)
  const c = createCipheriv('chacha20-poly1305', subkey, iv, { authTagLength: 16 })
  c.setAAD(aad, { plaintextLength: plaintext.length })
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()])
}

/** Returns the plaintext, or undefined when authentication fails. */
export function xchachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined {
  if (sealed.length < 16) return undefined
  const { subkey, iv } = parts(key, nonce)
  const d = createDecipheriv('chacha20-poly1305', subkey, iv, { authTagLength: 16 })
  d.setAAD(aad, { plaintextLength: sealed.length - 16 })
  d.setAuthTag(sealed.subarray(sealed.length - 16))
  const body = d.update(sealed.subarray(0, sealed.length - 16))
  try {
    d.final()
  } catch {
    return undefined
  }
  return body
}
