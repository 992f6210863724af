/**
 * The node's web page as the status server serves it (`StatusProvider.assets`):
 * its files by URL path, read once at load. Plain files with no build step:
 * index.html, app.js and format.js (ES modules), app.css, favicon.svg. Run from the
 * build (dist/ui/assets.js), the files are still read from src/ui, as tsc
 * copies no HTML, CSS or JavaScript.
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** A file of the page: its Content-Type and its text. */
export interface UiAsset {
  readonly contentType: string
  readonly body: string
}

/** The page's files: name in this directory, and Content-Type. */
const FILES: ReadonlyArray<readonly [string, string]> = [
  ['index.html', 'text/html; charset=utf-8'],
  ['app.js', 'text/javascript; charset=utf-8'],
  ['format.js', 'text/javascript; charset=utf-8'],
  ['app.css', 'text/css; charset=utf-8'],
  ['favicon.svg', 'image/svg+xml'],
]

/** This directory in the sources (src/ui), from here or from dist/ui. */
function sourceDir(): URL {
  const here = new URL('./', import.meta.url)
  if (existsSync(fileURLToPath(new URL('index.html', here)))) return here
  return new URL('../../src/ui/', import.meta.url)
}

function load(): Record<string, UiAsset> {
  const dir = sourceDir()
  const assets: Record<string, UiAsset> = {}
  for (const [name, contentType] of FILES)
    assets[`/${name}`] = { contentType, body: readFileSync(new URL(name, dir), 'utf8') }
  // The page itself at the root.
  assets['/'] = assets['/index.html'] as UiAsset
  return assets
}

/** The web page's files by URL path ('/' and '/index.html' are the page). */
export const UI_ASSETS: Readonly<Record<string, UiAsset>> = load()
