/** A one-line progress display on a terminal (stderr): counts, bytes, rate and ETA. */
export class ProgressLine {
  private readonly started = performance.now()
  private last = ''
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return !!this.stream.isTTY
  }

  update(label: string, files: number, totalFiles: number, bytes: number, totalBytes: number): void {
    if (!this.enabled) return
    const secs = (performance.now() - this.started) / 1000
    const rate = secs > 0 ? bytes / secs : 0
    // No ETA until a second has passed with bytes done: a first tick's rate says nothing.
    const eta = secs >= 1 && rate > 0 && totalBytes > bytes ? formatDuration((totalBytes - bytes) / rate) : secs < 1 || rate === 0 ? '--:--' : formatDuration(0)
    const pct = totalBytes > 0 ? Math.min(100, (100 * bytes) / totalBytes) : 100
    const line = `${label} ${pct.toFixed(1)}%  ${files}/${totalFiles} files  ${formatBytes(bytes)}/${formatBytes(totalBytes)}  ${formatBytes(rate)}/s  ETA ${eta}`
    const width = this.stream.columns ?? 100
    const text = line.length > width - 1 ? line.slice(0, width - 1) : line
    if (text === this.last) return
    this.last = text
    this.stream.write(`\r\x1b[K${text}`)
  }

  done(): void {
    if (this.enabled && this.last) this.stream.write('\r\x1b[K')
    this.last = ''
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`
}

export function formatDuration(secs: number): string {
  const s = Math.round(secs)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const r = s % 60
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`
}
