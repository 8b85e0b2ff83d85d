// A small HTTP proxy in front of the S3 test server that behaves like the S3-compatible stores that
// implement less of S3: it can refuse conditional writes (If-None-Match) and batch deletes with
// 501 NotImplemented, refuse the SDK's newer checksum headers, and insist on Content-MD5 where
// S3 itself documents it as required. It records every request's method, path and headers.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'

export interface PickyRules {
  /** PUT with If-None-Match → 501 NotImplemented (as several stores answered before they had it). */
  refuseConditionalPut?: boolean
  /** POST ?delete (DeleteObjects) → 501 NotImplemented. */
  refuseBatchDelete?: boolean
  /** Any x-amz-checksum-* or x-amz-sdk-checksum-algorithm header → 400 InvalidArgument. */
  refuseChecksumHeaders?: boolean
  /** POST ?delete without a correct Content-MD5 → 400 InvalidRequest (S3's documented rule). */
  requireContentMd5OnDelete?: boolean
  /** GET ?uploads (ListMultipartUploads) → 501 NotImplemented. */
  refuseListUploads?: boolean
  /** Answers to GET without Content-Length, in chunked transfer encoding (as some proxies and stores send them). */
  chunkedBodies?: boolean
  /**
   * Answer `?retention` itself (the test server has no Object Lock): a PUT is recorded and answered
   * 200, a GET returns the last retention PUT for that key.
   */
  answerRetention?: boolean
}

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  /** The answer the proxy gave itself, when it did not pass the request on. */
  refused?: number
  body?: Buffer
}

const errorXml = (code: string, message: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>picky</RequestId></Error>`

export class PickyS3Proxy {
  readonly requests: SeenRequest[] = []
  /** With `answerRetention`: the retention XML last put, by request path. */
  readonly retentions = new Map<string, string>()

  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
    public rules: PickyRules,
  ) {}

  static async start(upstream: string, rules: PickyRules): Promise<PickyS3Proxy> {
    const up = new URL(upstream)
    let proxy: PickyS3Proxy | undefined
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        const seen: SeenRequest = { method: req.method!, url: req.url!, headers: req.headers, body }
        proxy!.requests.push(seen)
        const refuse = (status: number, code: string, message: string) => {
          seen.refused = status
          const xml = errorXml(code, message)
          res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) })
          res.end(xml)
        }
        const r = proxy!.rules
        const query = new URL(req.url!, 'http://x').searchParams
        if (r.answerRetention && query.has('retention')) {
          const key = new URL(req.url!, 'http://x').pathname
          if (req.method === 'PUT') proxy!.retentions.set(key, body.toString())
          const xml = req.method === 'GET' ? (proxy!.retentions.get(key) ?? '') : ''
          if (req.method === 'GET' && !xml) return refuse(404, 'NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration')
          res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) })
          return res.end(xml)
        }
        if (r.refuseChecksumHeaders && Object.keys(req.headers).some((h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm'))
          return refuse(400, 'InvalidArgument', 'x-amz-checksum headers are not supported')
        if (r.refuseConditionalPut && req.method === 'PUT' && req.headers['if-none-match'] !== undefined)
          return refuse(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented')
        if (req.method === 'POST' && query.has('delete')) {
          if (r.refuseBatchDelete) return refuse(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented')
          if (r.requireContentMd5OnDelete && req.headers['content-md5'] !== createHash('md5').update(body).digest('base64'))
            return refuse(400, 'InvalidRequest', 'Missing required header for this request: Content-MD5')
        }
        if (r.refuseListUploads && req.method === 'GET' && query.has('uploads')) return refuse(501, 'NotImplemented', 'ListMultipartUploads is not implemented')
        const fwd = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
          const headers = { ...upRes.headers }
          if (r.chunkedBodies && req.method === 'GET') delete headers['content-length']
          res.writeHead(upRes.statusCode!, headers)
          upRes.pipe(res)
        })
        fwd.on('error', (e) => res.destroy(e))
        fwd.end(body)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    proxy = new PickyS3Proxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, rules)
    return proxy
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
