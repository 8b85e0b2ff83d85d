/**
 * A small validator for decoded repository objects, with exactly the combinators the repository
 * formats need (it replaced zod, whose import alone cost ~90 ms of a CLI run's start-up).
 *
 * Semantics follow what the zod schemas did: objects strip unknown keys (the result is a new object
 * with the schema's keys in schema order), numbers must be finite, `int` means a safe integer,
 * tuples have exactly their length. Arrays and tuples are returned as they are unless an element
 * changed (an object lost unknown keys), so validating an index of 100,000 tuples allocates nothing.
 * The first problem found is reported with its path: `packs.3.blobs.17.1: an id must be 32 bytes`.
 */

type Key = string | number

/** A validator: `check` returns the value (or its cleaned copy) and throws an `Issue` otherwise. */
export interface Schema<T> {
  readonly check: (value: unknown) => T
}

/** A schema that also accepts undefined; as an object field, the key may be missing. */
export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional: true
}

/** The type a schema produces, like zod's `z.infer`. */
export type Infer<S> = S extends Schema<infer T> ? T : never

type Shape = Record<string, Schema<unknown>>
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends OptionalSchema<unknown> ? K : never }[keyof S]
type Simplify<T> = { [K in keyof T]: T[K] } & {}
export type ObjectOf<S extends Shape> = Simplify<
  { -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { -readonly [K in OptionalKeys<S>]?: Infer<S[K]> }
>

export interface ObjectSchema<S extends Shape> extends Schema<ObjectOf<S>> {
  readonly shape: S
}

/** Thrown while checking; the containers prepend their key on the way out. Not an Error: no stack. */
class Issue {
  readonly path: Key[] = []
  constructor(readonly message: string) {}
}

/** A value that does not match its schema: `path` locates it, `issue` says what is wrong. */
export class SchemaError extends Error {
  constructor(
    readonly path: Key[],
    readonly issue: string,
  ) {
    super(`${path.join('.') || 'value'}: ${issue}`)
    this.name = 'SchemaError'
  }
}

/** Validates a value; throws SchemaError naming the path of the first problem. */
export function parse<T>(schema: Schema<T>, value: unknown): T {
  try {
    return schema.check(value)
  } catch (e) {
    if (e instanceof Issue) throw new SchemaError(e.path, e.message)
    throw e
  }
}

function kind(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (v instanceof Uint8Array) return v.constructor.name // Buffer or Uint8Array
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? 'number' : 'Infinity'
  return typeof v
}

function expected(what: string, v: unknown): never {
  throw new Issue(`Invalid input: expected ${what}, received ${kind(v)}`)
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v)
}

// ---- scalars --------------------------------------------------------------------------------------

/** An integer within [min, max] (by default any safe integer). */
export function int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Schema<number> {
  min = Math.max(min, Number.MIN_SAFE_INTEGER)
  max = Math.min(max, Number.MAX_SAFE_INTEGER)
  return {
    check(v) {
      if (typeof v === 'number' && v >= min && v <= max && Number.isInteger(v)) return v
      if (typeof v !== 'number' || !Number.isFinite(v)) expected('number', v)
      if (!Number.isInteger(v)) expected('int', v)
      if (v > Number.MAX_SAFE_INTEGER) throw new Issue(`Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`)
      if (v < Number.MIN_SAFE_INTEGER) throw new Issue(`Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`)
      if (v < min) throw new Issue(`Too small: expected number to be >=${min}`)
      if (v > max) throw new Issue(`Too big: expected number to be <=${max}`)
      return v
    },
  }
}

/** A finite number of at least `min`. */
export function num(min = -Infinity): Schema<number> {
  return {
    check(v) {
      if (typeof v !== 'number' || !Number.isFinite(v)) expected('number', v)
      if (v < min) throw new Issue(`Too small: expected number to be >=${min}`)
      return v
    },
  }
}

/** A string of at most `max` UTF-16 code units. */
export function str(max = Infinity): Schema<string> {
  return {
    check(v) {
      if (typeof v !== 'string') expected('string', v)
      if (v.length > max) throw new Issue(`Too big: expected string to have <=${max} characters`)
      return v
    },
  }
}

export function bool(): Schema<boolean> {
  return {
    check(v) {
      if (typeof v !== 'boolean') expected('boolean', v)
      return v
    },
  }
}

/**
 * A byte array (typed as the ArrayBufferLike-backed Uint8Array that Buffers are), optionally of an
 * exact length or a multiple of one; `message` says what is wrong otherwise.
 */
export function bytes(rule: { length?: number; multipleOf?: number } = {}, message = 'bytes of the wrong length'): Schema<Uint8Array> {
  const length = rule.length ?? -1
  const multipleOf = rule.multipleOf ?? 1
  return {
    check(v) {
      if (!(v instanceof Uint8Array)) throw new Issue('must be bytes')
      if ((length >= 0 && v.length !== length) || v.length % multipleOf !== 0) throw new Issue(message)
      return v
    },
  }
}

/** Exactly this value. */
export function literal<const V extends string | number | boolean>(value: V): Schema<V> {
  return {
    check(v) {
      if (v !== value) throw new Issue(`Invalid input: expected ${show(value)}`)
      return v as V
    },
  }
}

/** One of these values (zod's `z.enum`, or a union of literals). */
export function oneOf<const V extends readonly (string | number)[]>(values: V): Schema<V[number]> {
  const set = new Set<unknown>(values)
  return {
    check(v) {
      if (!set.has(v)) throw new Issue(`Invalid option: expected one of ${values.map(show).join('|')}`)
      return v as V[number]
    },
  }
}

export function optional<T>(schema: Schema<T>): OptionalSchema<T> {
  return {
    optional: true,
    check: (v) => (v === undefined ? undefined : schema.check(v)),
  }
}

// ---- containers -----------------------------------------------------------------------------------

/** An array of at most `max` items, each matching `item`. */
export function array<T>(item: Schema<T>, max = Infinity): Schema<T[]> {
  const each = item.check
  return {
    check(v) {
      if (!Array.isArray(v)) expected('array', v)
      const n = v.length
      if (n > max) throw new Issue(`Too big: expected array to have <=${max} items`)
      let out: T[] | undefined
      let i = 0
      try {
        for (; i < n; i++) {
          const x: unknown = v[i]
          const y = each(x)
          if (out) out.push(y)
          else if (y !== x) {
            out = v.slice(0, i) as T[]
            out.push(y)
          }
        }
      } catch (e) {
        if (e instanceof Issue) e.path.unshift(i)
        throw e
      }
      return out ?? (v as T[])
    },
  }
}

type TupleOf<T extends readonly Schema<unknown>[]> = { -readonly [K in keyof T]: Infer<T[K]> }

/** An array of exactly these items. */
export function tuple<const T extends readonly Schema<unknown>[]>(items: T): Schema<TupleOf<T>> {
  const checks = items.map((s) => s.check)
  const n = checks.length
  return {
    check(v) {
      if (!Array.isArray(v)) expected('tuple', v)
      if (v.length > n) throw new Issue(`Too big: expected array to have <=${n} items`)
      if (v.length < n) throw new Issue(`Too small: expected array to have >=${n} items`)
      let out: unknown[] | undefined
      let i = 0
      try {
        for (; i < n; i++) {
          const x: unknown = v[i]
          const y = checks[i]!(x)
          if (y !== x) (out ??= v.slice())[i] = y
        }
      } catch (e) {
        if (e instanceof Issue) e.path.unshift(i)
        throw e
      }
      return (out ?? v) as TupleOf<T>
    },
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * An object with these keys. Unknown keys are dropped: the result is a new object holding the
 * schema's keys in schema order (an optional key that is absent stays absent).
 */
export function object<const S extends Shape>(shape: S): ObjectSchema<S> {
  const keys = Object.keys(shape)
  const checks = keys.map((k) => shape[k]!.check)
  const n = keys.length
  return {
    shape,
    check(v) {
      if (!isObject(v)) expected('object', v)
      const out: Record<string, unknown> = {}
      let i = 0
      try {
        for (; i < n; i++) {
          const k = keys[i]!
          const x = v[k]
          const y = checks[i]!(x)
          if (y !== undefined || Object.hasOwn(v, k)) out[k] = y
        }
      } catch (e) {
        if (e instanceof Issue) e.path.unshift(keys[i]!)
        throw e
      }
      return out as ObjectOf<S>
    },
  }
}

/** One of several object schemas, chosen by the value of the `key` field (zod's discriminatedUnion). */
export function variant<K extends string, const O extends Record<string, ObjectSchema<Shape>>>(key: K, options: O): Schema<Infer<O[keyof O]>> {
  const tags = Object.keys(options)
  return {
    check(v) {
      if (!isObject(v)) expected('object', v)
      const tag = v[key]
      const schema = typeof tag === 'string' && Object.hasOwn(options, tag) ? options[tag] : undefined
      if (!schema) {
        const issue = new Issue(`Invalid discriminator value. Expected ${tags.map((t) => `'${t}'`).join(' | ')}`)
        issue.path.push(key)
        throw issue
      }
      return schema.check(v) as Infer<O[keyof O]>
    },
  }
}
