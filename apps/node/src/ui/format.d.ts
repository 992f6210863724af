/** Types of format.js (plain JavaScript, served to the browser as is). */
export declare function formatBytes(n: number): string
export declare function formatCount(n: number): string
export declare function formatRtt(ms: number | undefined | null): string
export declare function shortId(id: string): string
export declare function describePath(n: {
  kind?: string
  relayed?: boolean
  via?: string
  path?: string
}): string
export declare function errorText(status: number, body: unknown): string
export declare function formatExpiry(seconds: number): string
