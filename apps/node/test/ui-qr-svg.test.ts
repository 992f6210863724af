import qrcode from 'qrcode-generator'
import { describe, expect, it } from 'vitest'
import { renderQrSvg } from '../src/ui/qr-svg.ts'

const CODE = 'peertap-invite:aexf5cdor7v7fk2kkg3ypux2t44oed7jrj7garl4asbr4piimey6qa3mmfrcmab'

/** Reads the SVG's path back into dark modules, quiet zone included. */
function modulesOf(svg: string, side: number): boolean[][] {
  const d = /<path fill="#000" d="([^"]*)"\/>/.exec(svg)?.[1] ?? ''
  const grid = Array.from({ length: side }, () => new Array<boolean>(side).fill(false))
  for (const [, x, y] of d.matchAll(/M(\d+) (\d+)h1v1h-1z/g)) {
    const row = grid[Number(y)] as boolean[]
    row[Number(x)] = true
  }
  // Nothing in the path but module squares.
  expect(d.replace(/M\d+ \d+h1v1h-1z/g, '')).toBe('')
  return grid
}

describe('renderQrSvg', () => {
  it('is one well-formed SVG element with a square view box, no script and no outside reference', () => {
    const svg = renderQrSvg(CODE)
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 (\d+) \1" /)
    expect(svg.endsWith('</svg>')).toBe(true)
    expect(svg).not.toMatch(/<script|\son[a-z]+=|href|style=/i)
    // Every element closes: <svg>…</svg> around two empty elements.
    const tags = [...svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)].map(
      ([, close, name, self]) => `${close}${name}${self}`,
    )
    expect(tags).toEqual(['svg', 'rect/', 'path/', '/svg'])
  })

  it('draws exactly the QR symbol of the upper-cased code, in alphanumeric mode, with a quiet zone of 4', () => {
    const svg = renderQrSvg(CODE)
    const qr = qrcode(0, 'L')
    qr.addData(CODE.toUpperCase(), 'Alphanumeric')
    qr.make()
    const size = qr.getModuleCount()
    const side = Number(/viewBox="0 0 (\d+)/.exec(svg)?.[1])
    expect(side).toBe(size + 8)
    const modules = modulesOf(svg, side)
    for (let row = 0; row < side; row++) {
      for (let col = 0; col < side; col++) {
        const inside = row >= 4 && col >= 4 && row < size + 4 && col < size + 4
        expect(modules[row]?.[col], `module ${row},${col}`).toBe(
          inside ? qr.isDark(row - 4, col - 4) : false,
        )
      }
    }
  })

  it('falls back to byte mode for text outside the alphanumeric set', () => {
    const svg = renderQrSvg('peertap-invite:x_y')
    expect(svg.startsWith('<svg')).toBe(true)
  })
})
