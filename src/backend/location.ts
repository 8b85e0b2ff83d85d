import { resolve } from 'node:path'
import { InvalidOptionsError } from '../errors/index.js'
import type { Backend } from './backend.js'
import { withConcurrencyLimit } from './limit.js'
import { LocalBackend } from './local.js'
import { withRetry, type RetryOptions } from './retry.js'
import { S3Backend, type S3Options } from './s3.js'

/** S3-compatible providers with their endpoint conventions. */
export type S3Provider = 's3' | 'backblaze' | 'r2' | 'wasabi' | 'minio' | 'custom'

export const S3_PROVIDERS: readonly S3Provider[] = ['s3', 'backblaze', 'r2', 'wasabi', 'minio', 'custom']

/**
 * Endpoint and settings for a provider: `region` for AWS, Backblaze B2 (e.g. us-west-004) and
 * Wasabi (e.g. eu-central-1); `accountId` for Cloudflare R2; `endpoint` for MinIO and custom.
 */
/** Checks an endpoint URL given on its own (--s3-endpoint): http(s), a host, nothing else. */
export function checkEndpoint(endpoint: string): string {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw new InvalidOptionsError(`"${endpoint}" is not an endpoint URL: use e.g. https://s3.example.com or http://127.0.0.1:9000`)
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname || url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search) {
    throw new InvalidOptionsError(`"${endpoint}" is not an endpoint URL: use http:// or https://, a host and an optional port, nothing after it (e.g. http://127.0.0.1:9000)`)
  }
  return url.origin
}

export function providerOptions(provider: S3Provider, p: { region?: string; accountId?: string; endpoint?: string }): Partial<S3Options> {
  switch (provider) {
    case 's3':
      return { region: p.region ?? 'us-east-1', endpoint: p.endpoint, forcePathStyle: !!p.endpoint }
    case 'backblaze':
      if (!p.region) throw new InvalidOptionsError('Backblaze B2 needs its region, e.g. us-west-004 (shown on the bucket page)')
      return { region: p.region, endpoint: `https://s3.${p.region}.backblazeb2.com`, forcePathStyle: false }
    case 'r2':
      if (!p.accountId) throw new InvalidOptionsError('Cloudflare R2 needs the account id (the R2 overview page shows it)')
      return { region: 'auto', endpoint: `https://${p.accountId}.r2.cloudflarestorage.com`, forcePathStyle: true }
    case 'wasabi': {
      const region = p.region ?? 'us-east-1'
      return { region, endpoint: `https://s3.${region}.wasabisys.com`, forcePathStyle: false }
    }
    case 'minio':
    case 'custom':
      if (!p.endpoint) throw new InvalidOptionsError(`the ${provider} provider needs an endpoint URL: give --s3-endpoint http://HOST:PORT (e.g. http://127.0.0.1:9000), or use s3:http://HOST:PORT/BUCKET as the repository`)
      return { region: p.region ?? 'us-east-1', endpoint: p.endpoint, forcePathStyle: true }
  }
}

export type ParsedLocation = { kind: 'local'; path: string } | { kind: 's3'; endpoint?: string; bucket: string; prefix: string }

/**
 * Parses a repository location: `s3:https://host[:port]/bucket[/prefix]` (any S3-compatible
 * endpoint; `http://` for a local server), `s3:bucket[/prefix]` (AWS), or a local folder path.
 */
export function parseLocation(location: string): ParsedLocation {
  if (!location.startsWith('s3:')) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) throw new InvalidOptionsError(`unsupported repository location "${location.split(':')[0]}:"; use a folder path or s3:…`)
    return { kind: 'local', path: resolve(location) }
  }
  const rest = location.slice(3)
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(rest)
  if (scheme && !/^https?:\/\/[^/]/i.test(rest)) throw new InvalidOptionsError(`"${location}" is not a valid S3 location: after s3: give https://HOST[:PORT]/BUCKET[/PREFIX], http:// for a local server, or BUCKET[/PREFIX] for AWS (not "${scheme[1]}:")`)
  if (/^https?:\/\//i.test(rest)) {
    let url: URL
    try {
      url = new URL(rest)
    } catch {
      throw new InvalidOptionsError(`not a valid URL: ${rest}`)
    }
    if (url.username || url.password) throw new InvalidOptionsError('put S3 credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a profile, not in the URL')
    const [bucket, ...prefix] = url.pathname.split('/').filter(Boolean)
    if (!bucket) throw new InvalidOptionsError(`no bucket in ${location}: use s3:${url.origin}/BUCKET[/PREFIX]`)
    return { kind: 's3', endpoint: url.origin, bucket, prefix: prefix.join('/') }
  }
  const [bucket, ...prefix] = rest.split('/').filter(Boolean)
  if (!bucket) throw new InvalidOptionsError('no bucket: use s3:BUCKET[/PREFIX]')
  if (!/^[a-z0-9][a-z0-9.\-_]{0,254}$/i.test(bucket)) throw new InvalidOptionsError(`"${bucket}" is not a bucket name: use letters, digits, dots and hyphens (s3:BUCKET[/PREFIX])`)
  return { kind: 's3', bucket, prefix: prefix.join('/') }
}

export interface OpenBackendOptions {
  /** Extra S3 settings (credentials, provider endpoint, storage class, …). */
  s3?: Partial<S3Options>
  /** Retry settings for remote storage, or false for none (default: retry). */
  retry?: RetryOptions | false
  env?: NodeJS.ProcessEnv
}

/**
 * Opens the backend a location names: local folders as they are; S3 wrapped in retry (backoff and
 * jitter) and a concurrency limit. Credentials come from `opts.s3.credentials` or the standard AWS
 * chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, shared files).
 */
export function openBackend(location: string, opts: OpenBackendOptions = {}): Backend {
  const parsed = parseLocation(location)
  if (parsed.kind === 'local') return new LocalBackend(parsed.path)
  const env = opts.env ?? process.env
  const s3 = new S3Backend({
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
    ...opts.s3,
    bucket: parsed.bucket,
    prefix: parsed.prefix,
    endpoint: parsed.endpoint ?? opts.s3?.endpoint,
    forcePathStyle: parsed.endpoint ? true : opts.s3?.forcePathStyle,
  })
  const limited = withConcurrencyLimit(s3, s3.opts.maxConnections ?? 8)
  return opts.retry === false ? limited : withRetry(limited, opts.retry)
}

/** The S3 backend under decorators, if there is one (for bucket creation and upload clean-up). */
export function s3Of(backend: Backend): S3Backend | undefined {
  let b: unknown = backend
  for (let i = 0; i < 8 && b; i++) {
    if (b instanceof S3Backend) return b
    b = (b as { inner?: unknown }).inner
  }
  return undefined
}
