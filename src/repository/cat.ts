import { fromHex, isHexId, toHex } from '../crypto/ids.js'
import { CorruptObjectError, InvalidOptionsError } from '../errors/index.js'
import type { Repository } from './repository.js'

/** What `cat` can show. */
export type CatKind = 'config' | 'snapshot' | 'index' | 'key' | 'tree' | 'pack'

export const CAT_KINDS: readonly CatKind[] = ['config', 'snapshot', 'index', 'key', 'tree', 'pack']

/** Byte arrays become hex so the result prints as JSON. */
export function jsonable(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v)
  if (v instanceof Date) return v.toISOString()
  if (Array.isArray(v)) return v.map(jsonable)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonable(x)]))
  return v
}

/** Decrypts and decodes one stored object for inspection; byte fields are shown as hex. */
export async function catObject(repo: Repository, kind: CatKind, ref?: string): Promise<unknown> {
  if (kind === 'config') return jsonable({ ...repo.config })
  if (!ref) throw new InvalidOptionsError(`cat ${kind} needs an id`)
  switch (kind) {
    case 'snapshot':
      return jsonable(await repo.findSnapshot(ref))
    case 'index':
      return jsonable(await repo.loadIndexFile(needId(ref)))
    case 'key': {
      const name = needId(ref)
      try {
        return jsonable(repo.keyFileInfo(await repo.backend.load({ type: 'keys', name })))
      } catch (e) {
        if (e instanceof Error && e.message.startsWith('invalid key file')) throw new CorruptObjectError('key', name, e.message)
        throw e
      }
    }
    case 'tree':
      return jsonable(await repo.loadTree(fromHex(needId(ref))))
    case 'pack':
      return jsonable(await repo.loadPackHeader(needId(ref)))
    default:
      throw new InvalidOptionsError(`cannot cat "${kind as string}"; use one of ${CAT_KINDS.join(', ')}`)
  }
}

function needId(ref: string): string {
  if (!isHexId(ref)) throw new InvalidOptionsError(`"${ref}" is not a 64-character hex id`)
  return ref
}

