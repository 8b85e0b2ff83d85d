/**
 * The encoding of every structured object in a repository: MessagePack (msgpackr) with records off,
 * so the bytes depend only on the values and stay readable by any MessagePack decoder. Decoding never
 * trusts its input: callers validate the decoded value before use.
 */
import { Packr, Unpackr } from 'msgpackr'

const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

export function encode(value: unknown): Buffer {
  return packr.pack(value)
}

/** Decodes MessagePack; throws a plain Error (callers name the object) on malformed input. */
export function decode(bytes: Uint8Array): unknown {
  try {
    return unpackr.unpack(bytes)
  } catch (e) {
    throw new Error(`not valid MessagePack: ${(e as Error).message}`)
  }
}
