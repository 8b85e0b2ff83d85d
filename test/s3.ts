import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { S3Backend, type S3Options } from '../src/backend/s3.js'
import { tempDir } from './helpers.js'

/** A real S3-compatible server on 127.0.0.1, started by the test itself. */
export class TestS3Server {
  private constructor(
    private readonly child: ChildProcess,
    readonly endpoint: string,
    /** Where the server keeps the objects. */
    readonly directory: string,
  ) {}

  static async start(buckets: string[] = ['test']): Promise<TestS3Server> {
    const dir = tempDir('s3rver')
    const child = spawn(process.execPath, ['--openssl-legacy-provider', join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'support', 's3-server.mjs'), dir, buckets.join(',')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! })
      rl.once('line', resolve)
      child.once('exit', (code) => reject(new Error(`S3 test server exited with code ${code}`)))
    })
    const { port } = JSON.parse(line) as { port: number }
    return new TestS3Server(child, `http://127.0.0.1:${port}`, dir)
  }

  backend(opts: Partial<S3Options> = {}): S3Backend {
    return new S3Backend({
      bucket: 'test',
      endpoint: this.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      ...opts,
    })
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((r) => this.child.once('exit', r))
    this.child.stdin!.end()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(timer)
  }
}
