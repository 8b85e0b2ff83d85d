/**
 * Chunker layer: splits file contents into content-defined chunks (FastCDC, 32-bit "ronomon"
 * family), so that an insertion or deletion only changes the chunks around it.
 *
 * Nouns of this layer:
 * - params (`ChunkerParams`): the min / avg / max chunk sizes in bytes (64 <= min < avg < max <= 64 MiB).
 * - table: 256 31-bit values the rolling hash adds per byte. `unkeyedTable()` is the public one
 *   (matches published vectors); `keyedTable(key)` derives it from the repository's secret chunker
 *   subkey so chunk boundaries do not reveal which known files a repository holds.
 * - cut point: the offset where one chunk ends and the next begins; `Chunker.cut()` finds the next
 *   one (returning a chunk length), `Chunker.chunks()` walks a whole buffer.
 * - Chunker: params + table + the derived masks and center size; `chunkStream()` drives it over an
 *   async stream of byte pieces and yields chunk contents.
 */
export { unkeyedTable, keyedTable } from './table.js'
export {
  Chunker,
  chunkStream,
  validateChunkerParams,
  CHUNKER_MIN_SIZE,
  CHUNKER_MAX_SIZE,
  type ChunkerParams,
} from './fastcdc.js'
