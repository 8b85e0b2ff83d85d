/**
 * The encoding of every structured object in a repository: MessagePack (msgpackr) with records off,
 * so the bytes depend only on the values and stay readable by any MessagePack decoder. Decoding never
 * trusts its input: callers validate the decoded value before use.
 */
// The documented per-module entry points: on Node's ESM side they skip the probe for msgpackr's
// optional native string extractor (msgpackr-extract), which halves msgpackr's load time (~40 ms ->
// ~18 ms) and decodes identically (the JS decoder follows the same UTF-8 replacement rules, checked on
// 40,000 messages of valid, invalid and lone-surrogate strings); repository objects hold few strings.
import { Packr } from 'msgpackr/pack'
import { Unpackr } from 'msgpackr/unpack'

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
