/**
 * Reads from an S3-compatible endpoint without the AWS SDK: GET (whole or a range), HEAD and
 * ListObjectsV2, signed with Signature Version 4 over Node's own http/https, with the same timeouts
 * and the same error shapes (`name` = the S3 error code, `$metadata.httpStatusCode`) the SDK gives,
 * so the backend's error mapping serves both.
 *
 * Why: loading the SDK costs a fresh process about 0.2 s before its first request (Node 24, 2 cores;
 * 190-260 ms to import, 30-45 ms more for the first request), and most processes only read: a
 * status, a listing, an unchanged backup, a restore. The backend uses this reader only where its
 * answer is certain to be the SDK's: an explicit endpoint (no AWS endpoint rules, regions, FIPS or
 * dual-stack to resolve) and static credentials (given, or AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY with no profile named). Everything else, writes included, goes through the SDK,
 * loaded on first use.
 */
import { createHash, createHmac } from 'node:crypto'
import type { Agent as HttpAgent, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { createRequire } from 'node:module'
import { isIP } from 'node:net'
import type { S3Credentials } from './s3.js'

// node:http and node:https come through require, not import: the ESM view of a built-in reads every
// export, and node:http's WebSocket getter loads Node's bundled fetch stack (undici), 60-75 ms at
// the start of every process that loads this library (Node 24), whether it uses S3 or not.
const require = createRequire(import.meta.url)
const http = () => require('node:http') as typeof import('node:http')
const https = () => require('node:https') as typeof import('node:https')

export interface S3ReaderOptions {
  endpoint: string
  region: string
  bucket: string
  forcePathStyle: boolean
  credentials: S3Credentials
  maxSockets: number
  requestTimeoutMs: number
  idleTimeoutMs: number
  connectTimeoutMs: number
  caCertificates?: string[]
}

/** An S3 error as the SDK shapes it: the error code as `name`, the status in `$metadata`. */
export class S3ReadError extends Error {
  readonly $metadata: { httpStatusCode: number }
  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = code
    this.$metadata = { httpStatusCode: status }
  }
}

export interface ListedObject {
  key: string
  size: number
  modified?: Date
}

const EMPTY_SHA256 = createHash('sha256').digest('hex')

/** RFC 3986 encoding, as SigV4 wants it ('/' kept where `slash` says so). */
function uriEncode(s: string, slash: boolean): string {
  const out = encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return slash ? out.replace(/%2F/g, '/') : out
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)
      return cp <= 0x10ffff ? String.fromCodePoint(cp) : m
    }
    return ENTITIES[e] ?? m
  })
}

/** The text of the first `<tag>` in `xml`, unescaped. */
function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)
  return m ? unescapeXml(m[1]) : undefined
}

export class S3Reader {
  private readonly url: URL
  private readonly agent: HttpAgent
  private readonly https: boolean
  private readonly signingKeys = new Map<string, Buffer>()
  /** Milliseconds the store's clock is ahead of ours, learnt from a RequestTimeTooSkewed answer (as the SDK does). */
  private clockOffsetMs = 0

  constructor(private readonly opts: S3ReaderOptions) {
    this.url = new URL(opts.endpoint)
    this.https = this.url.protocol === 'https:'
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets }
    this.agent = this.https ? new (https().Agent)({ ...agentOpts, ...(opts.caCertificates?.length ? { ca: opts.caCertificates } : {}) }) : new (http().Agent)(agentOpts)
  }

  /** GET of a key (a byte range of it, `first`-`last` inclusive): the response, its body unread. */
  async get(key: string, range?: { first: number; last: number }): Promise<{ body: IncomingMessage; length: number | undefined }> {
    const res = await this.send('GET', key, {}, range ? { range: `bytes=${range.first}-${range.last}` } : {})
    const length = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length'])
    return { body: res, length }
  }

  /** HEAD of a key: its size. */
  async head(key: string): Promise<{ size: number }> {
    const res = await this.send('HEAD', key)
    res.resume()
    return { size: Number(res.headers['content-length'] ?? 0) }
  }

  /** One page of ListObjectsV2. */
  async list(prefix: string, continuationToken?: string, maxKeys?: number): Promise<{ objects: ListedObject[]; next?: string }> {
    const query: Record<string, string> = { 'list-type': '2', prefix }
    if (continuationToken) query['continuation-token'] = continuationToken
    if (maxKeys) query['max-keys'] = String(maxKeys)
    const res = await this.send('GET', undefined, query)
    const xml = (await readAll(res)).toString('utf8')
    const objects: ListedObject[] = []
    for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
      const modified = tag(m[1], 'LastModified')
      objects.push({ key: tag(m[1], 'Key') ?? '', size: Number(tag(m[1], 'Size') ?? 0), modified: modified ? new Date(modified) : undefined })
    }
    const truncated = tag(xml, 'IsTruncated') === 'true'
    return { objects, next: truncated ? tag(xml, 'NextContinuationToken') : undefined }
  }

  close(): void {
    this.agent.destroy()
  }

  /**
   * The path of a key (or of the bucket, for a listing) on this endpoint, addressed as the SDK
   * addresses it: in the host name (virtual-hosted) unless path style is asked for, the endpoint is
   * an IP address, or the bucket's name cannot be a host name label (dots over https: the
   * certificate names one level only).
   */
  private path(key: string | undefined): { host: string; path: string } {
    const base = this.url.pathname.replace(/\/+$/, '')
    const encodedKey = key === undefined ? '' : uriEncode(key, true)
    const bucket = this.opts.bucket
    const dnsName = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !/\.\.|^\d+\.\d+\.\d+\.\d+$/.test(bucket) && !(this.https && bucket.includes('.'))
    const virtualHosted = !this.opts.forcePathStyle && dnsName && isIP(this.url.hostname.replace(/^\[|\]$/g, '')) === 0
    if (!virtualHosted) return { host: this.url.host, path: `${base}/${uriEncode(bucket, false)}/${encodedKey}` }
    return { host: `${bucket}.${this.url.host}`, path: `${base}/${encodedKey}` }
  }

  private signingKey(date: string): Buffer {
    let k = this.signingKeys.get(date)
    if (!k) {
      const h = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest()
      k = h(h(h(h(`AWS4${this.opts.credentials.secretAccessKey}`, date), this.opts.region), 's3'), 'aws4_request')
      this.signingKeys.clear()
      this.signingKeys.set(date, k)
    }
    return k
  }

  /**
   * A request signed with Signature Version 4: the path and query to send and every header, the
   * authorization included. `now` is for tests.
   */
  sign(method: 'GET' | 'HEAD', key: string | undefined, query: Record<string, string> = {}, extra: Record<string, string> = {}, now = new Date()): { host: string; path: string; query: string; headers: Record<string, string> } {
    const { host, path } = this.path(key)
    const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, '')
    const date = amzDate.slice(0, 8)
    const headers: Record<string, string> = { host, 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': amzDate, ...extra }
    if (this.opts.credentials.sessionToken) headers['x-amz-security-token'] = this.opts.credentials.sessionToken
    const canonicalQuery = Object.keys(query)
      .sort()
      .map((k) => `${uriEncode(k, false)}=${uriEncode(query[k], false)}`)
      .join('&')
    const names = Object.keys(headers).sort()
    const canonical = [method, path, canonicalQuery, ...names.map((n) => `${n}:${headers[n].trim()}`), '', names.join(';'), EMPTY_SHA256].join('\n')
    const scope = `${date}/${this.opts.region}/s3/aws4_request`
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
    const signature = createHmac('sha256', this.signingKey(date)).update(toSign).digest('hex')
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${this.opts.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`
    return { host, path, query: canonicalQuery, headers }
  }

  /** Signs and sends one request; resolves with the response once its status is 2xx, else rejects with an S3ReadError. */
  private send(method: 'GET' | 'HEAD', key: string | undefined, query: Record<string, string> = {}, extra: Record<string, string> = {}): Promise<IncomingMessage> {
    const signed = this.sign(method, key, query, extra, new Date(Date.now() + this.clockOffsetMs))
    const { host, path } = signed
    const canonicalQuery = signed.query
    const out: OutgoingHttpHeaders = signed.headers
    return new Promise((resolve, reject) => {
      const timeout = (message: string) => Object.assign(new Error(message), { name: 'TimeoutError', code: 'ETIMEDOUT' })
      let response: IncomingMessage | undefined
      const req = (this.https ? https() : http()).request({
        protocol: this.url.protocol,
        hostname: host.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''),
        port: this.url.port || undefined,
        method,
        path: canonicalQuery ? `${path}?${canonicalQuery}` : path,
        headers: out,
        agent: this.agent,
      })
      // The SDK's three limits, said as it says them (the backend words them for users).
      const connectTimer = setTimeout(() => req.destroy(timeout(`the request socket did not establish a connection with the server within the configured timeout of ${this.opts.connectTimeoutMs} ms.`)), this.opts.connectTimeoutMs)
      req.on('socket', (socket) => {
        if (!socket.connecting) clearTimeout(connectTimer)
        else socket.once('connect', () => clearTimeout(connectTimer))
      })
      const requestTimer = setTimeout(() => req.destroy(timeout(`a request has exceeded the configured ${this.opts.requestTimeoutMs} ms requestTimeout.`)), this.opts.requestTimeoutMs)
      req.setTimeout(this.opts.idleTimeoutMs, () => {
        const e = timeout(`the request socket timed out after ${this.opts.idleTimeoutMs} ms of inactivity.`)
        // Mid-body, the reader of the body gets this error, not the connection's "aborted".
        if (response && !response.complete) response.destroy(e)
        req.destroy(e)
      })
      const done = () => {
        clearTimeout(connectTimer)
        clearTimeout(requestTimer)
      }
      req.on('error', (e) => {
        done()
        reject(e)
      })
      req.on('response', (res) => {
        done()
        response = res
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) {
          // A store that ignores Range answers 200 with the whole object: refuse it before reading it.
          if (extra.range && status !== 206) {
            res.destroy()
            return reject(new S3ReadError(status, 'RangeIgnored', `the store answered ${status} to a ranged GET, not 206: it does not serve byte ranges`))
          }
          return resolve(res)
        }
        readAll(res).then(
          (body) => {
            const xml = body.toString('utf8')
            const code = tag(xml, 'Code') ?? (status === 404 ? 'NotFound' : String(status))
            if (code === 'RequestTimeTooSkewed' && res.headers.date) {
              const server = Date.parse(res.headers.date)
              if (Number.isFinite(server)) this.clockOffsetMs = server - Date.now()
            }
            reject(new S3ReadError(status, code, tag(xml, 'Message') ?? `${method} answered ${status} ${res.statusMessage ?? ''}`.trim()))
          },
          reject,
        )
      })
      req.end()
    })
  }
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}
