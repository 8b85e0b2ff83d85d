import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Ignore } from 'ignore'
import { InvalidOptionsError } from '../errors/index.js'

/**
 * Decides which paths a backup leaves out: gitignore-style patterns (globs such as `*.log`,
 * `node_modules/`, `/cache`, negations with `!`) given directly or read from exclude files, and a
 * size limit. Paths are matched as they appear in the snapshot: `<source name>/<path inside>`.
 */
export class Excluder {
  /** Undefined without patterns: the `ignore` package (~20 ms to load) is then never loaded. */
  private readonly ig?: Ignore
  readonly patterns: string[]

  constructor(patterns: string[] = [], excludeFiles: string[] = [], readonly maxFileSize?: number) {
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
    if (all.length === 0) return
    const ignore = createRequire(import.meta.url)('ignore') as typeof import('ignore')
    try {
      this.ig = ignore({ allowRelativePaths: true }).add(all)
    } catch (e) {
      throw new InvalidOptionsError(`invalid exclude pattern: ${(e as Error).message}`)
    }
  }

  /** True when the path (relative, `/`-separated; directories without a trailing slash) is excluded. */
  excludes(relPath: string, isDir: boolean): boolean {
    if (!this.ig) return false
    return this.ig.ignores(isDir ? `${relPath}/` : relPath)
  }
}
