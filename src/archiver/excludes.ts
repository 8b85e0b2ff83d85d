import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Ignore } from 'ignore'
import type picomatchType from 'picomatch'
import { InvalidOptionsError } from '../errors/index.js'

const require = createRequire(import.meta.url)

/**
 * Decides which paths a backup leaves out: gitignore-style patterns (globs such as `*.log`,
 * `node_modules/`, `/cache`, negations with `!`) given directly or read from exclude files, a size
 * limit, and optionally an allowlist of include globs. Paths are matched as they appear in the
 * snapshot: `<source name>/<path inside>`; include globs are relative to the source folder
 * (`MEMORY.md`, `memory/**`). With includes, only included paths are kept, and excludes apply last.
 */
export class Excluder {
  /** Undefined without patterns: the `ignore` package (~20 ms to load) is then never loaded. */
  private readonly ig?: Ignore
  private readonly include?: IncludeMatcher
  readonly patterns: string[]

  constructor(patterns: string[] = [], excludeFiles: string[] = [], readonly maxFileSize?: number, includes?: string[]) {
    const all = [...patterns]
    for (const f of excludeFiles) {
      let text: string
      try {
        text = readFileSync(f, 'utf8')
      } catch (e) {
        throw new InvalidOptionsError(`cannot read exclude file ${f}: ${(e as Error).message}`, { file: f })
      }
      all.push(...text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#')))
    }
    this.patterns = all
    if (includes !== undefined) this.include = new IncludeMatcher(includes)
    if (all.length === 0) return
    const ignore = require('ignore') as typeof import('ignore')
    try {
      this.ig = ignore({ allowRelativePaths: true }).add(all)
    } catch (e) {
      throw new InvalidOptionsError(`invalid exclude pattern: ${(e as Error).message}`)
    }
  }

  /** True when the path (relative, `/`-separated; directories without a trailing slash) is excluded. */
  excludes(relPath: string, isDir: boolean): boolean {
    if (this.include) {
      const slash = relPath.indexOf('/')
      // The source folder itself is always walked; what is inside it must be included.
      if (slash >= 0 && !this.include.keeps(relPath.slice(slash + 1), isDir)) return true
    }
    if (!this.ig) return false
    return this.ig.ignores(isDir ? `${relPath}/` : relPath)
  }
}

/**
 * An allowlist of globs (picomatch, dotfiles matched): a file is kept when a glob matches it or one
 * of the folders above it; a folder is walked when it could hold a kept path.
 */
export class IncludeMatcher {
  private readonly globs: Array<{ whole: (p: string) => boolean; segments: Array<((s: string) => boolean) | '**'> }>

  constructor(globs: string[]) {
    const picomatch = require('picomatch') as typeof picomatchType
    this.globs = globs.map((g) => {
      const glob = g.replace(/^\.?\//, '').replace(/\/+$/, '')
      if (glob === '' || glob.split('/').includes('..')) throw new InvalidOptionsError(`invalid include pattern "${g}": give a path or glob inside the folder, e.g. memory/**`, { pattern: g })
      try {
        return {
          whole: picomatch(glob, { dot: true }),
          segments: glob.split('/').map((s) => (s === '**' ? ('**' as const) : picomatch(s, { dot: true }))),
        }
      } catch (e) {
        throw new InvalidOptionsError(`invalid include pattern "${g}": ${(e as Error).message}`, { pattern: g })
      }
    })
  }

  /** Whether a path inside the source folder (`/`-separated) is kept, or for a folder, walked. */
  keeps(path: string, isDir: boolean): boolean {
    const parts = path.split('/')
    for (let i = 1; i <= parts.length; i++) {
      const head = i === parts.length ? path : parts.slice(0, i).join('/')
      if (this.globs.some((g) => g.whole(head))) return true
    }
    return isDir && this.globs.some((g) => couldHold(g.segments, parts))
  }
}

/** Whether a glob's segments could match something below the folder whose segments are `dir`. */
function couldHold(segments: Array<((s: string) => boolean) | '**'>, dir: string[]): boolean {
  for (let i = 0; i < dir.length; i++) {
    const s = segments[i]
    if (s === '**') return true
    if (s === undefined || i === segments.length - 1 || !s(dir[i])) return false
  }
  return true
}
