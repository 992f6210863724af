import qrcode from 'qrcode-generator'
import { describe, expect, it } from 'vitest'
import { renderQr } from '../src/qr.ts'

/** Reads the half-block picture back into modules (true = dark), quiet zone included. */
function modulesOf(picture: string): boolean[][] {
  const rows: boolean[][] = []
  for (const line of picture.trimEnd().split('\n')) {
    const top: boolean[] = []
    const bottom: boolean[] = []
    for (const cell of line) {
      // A lit half is a light module.
      top.push(!(cell === '█' || cell === '▀'))
      bottom.push(!(cell === '█' || cell === '▄'))
    }
    rows.push(top, bottom)
  }
  return rows
}

describe('renderQr', () => {
  it('draws exactly the QR symbol of the upper-cased code, in alphanumeric mode, with a light margin', () => {
    const code = 'peertap-invite:aexf5cdor7v7fk2kkg3ypux2t44oed7jrj7garl4asbr4piimey6qa3mmfrcmab'
    const picture = renderQr(code)
    const qr = qrcode(0, 'L')
    qr.addData(code.toUpperCase(), 'Alphanumeric')
    qr.make()
    const size = qr.getModuleCount()
    const modules = modulesOf(picture)
    for (let row = 0; row < size + 4; row++) {
      for (let col = 0; col < size + 4; col++) {
        const inside = row >= 2 && col >= 2 && row < size + 2 && col < size + 2
        expect(modules[row]?.[col], `module ${row},${col}`).toBe(
          inside ? qr.isDark(row - 2, col - 2) : false,
        )
      }
    }
  })
})
