// Damage for decoder tests: what storage or an attacker can do to an encoded object's bytes.
import fc from 'fast-check'

/** Samples' bytes changed in a few places, cut short, or with bytes after them. */
export function byteDamage(samples: Uint8Array[]): Array<fc.Arbitrary<Buffer>> {
  return [
    fc.tuple(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 6 })).map(([s, edits]) => {
      const c = Buffer.from(s)
      for (const [i, b] of edits) c[i % c.length] = b
      return c
    }),
    fc.tuple(fc.constantFrom(...samples), fc.nat()).map(([s, n]) => Buffer.from(s.subarray(0, n % s.length))),
    fc.tuple(fc.constantFrom(...samples), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([s, extra]) => Buffer.concat([s, extra])),
  ]
}

/** Values of every kind to put where a field's value belongs, with `constants` of the field's edges. */
export function hostileValue(constants: unknown[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.anything({ maxDepth: 2, maxKeys: 4, withBigInt: false, withBoxedValues: false, withMap: false, withSet: false, withTypedArray: false, withSparseArray: false }),
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom(...constants),
  )
}
