// Modules of the OpenClaw host that the plugin entry imports at run time. The host's loader resolves
// `openclaw/plugin-sdk/*` for the plugins it loads; these declarations only let tsc check the entry
// without the `openclaw` package (see host.ts for why it is not installed here).
declare module 'openclaw/plugin-sdk/plugin-entry' {
  export function definePluginEntry<T extends { id: string; name: string; description: string; register(api: never): void }>(entry: T): T
}
declare module 'openclaw/plugin-sdk/agent-scope-runtime' {
  export function listAgentIds(cfg: never): string[]
}
