// An RGB raster to draw plots into: pixels, lines, rectangles and a 3x5 pixel font (upper case,
// digits and a few signs, drawn at an integer scale) so each panel can name its metric and range.
export type Rgb = readonly [number, number, number];

/** Each glyph is 5 rows of 3 pixels, top row first, '1' = ink. */
const GLYPHS: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111',
  '4': '101101111001001', '5': '111100111001111', '6': '111100111101111', '7': '111001001001001',
  '8': '111101111101111', '9': '111101111001111',
  A: '010101111101101', B: '110101110101110', C: '011100100100011', D: '110101101101110',
  E: '111100110100111', F: '111100110100100', G: '011100101101011', H: '101101111101101',
  I: '111010010010111', J: '001001001101010', K: '101101110101101', L: '100100100100111',
  M: '101111111101101', N: '110101101101101', O: '010101101101010', P: '110101110100100',
  Q: '010101101110011', R: '110101110101101', S: '011100010001110', T: '111010010010010',
  U: '101101101101111', V: '101101101101010', W: '101101111111101', X: '101101010101101',
  Y: '101101010010010', Z: '111001010100111',
  ' ': '000000000000000', '.': '000000000000010', ',': '000000000010100', '-': '000000111000000',
  _: '000000000000111', '/': '001001010100100', ':': '000010000010000', '(': '010100100100010',
  ')': '010001001001010', '%': '101001010100101', '+': '000010111010000', '=': '000111000111000',
  '>': '100010001010100', '<': '001010100010001', '?': '111001010000010',
};

export const GLYPH_WIDTH = 3;
export const GLYPH_HEIGHT = 5;

export class RasterCanvas {
  readonly pixels: Buffer;

  constructor(readonly width: number, readonly height: number, background: Rgb = [255, 255, 255]) {
    this.pixels = Buffer.alloc(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  /** Sets one pixel; points outside the canvas are ignored (lines may be clipped by the edge). */
  set(x: number, y: number, colour: Rgb): void {
    const px = Math.round(x);
    const py = Math.round(y);
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return;
    const at = (py * this.width + px) * 3;
    this.pixels[at] = colour[0];
    this.pixels[at + 1] = colour[1];
    this.pixels[at + 2] = colour[2];
  }

  get(x: number, y: number): Rgb {
    const at = (y * this.width + x) * 3;
    return [this.pixels[at], this.pixels[at + 1], this.pixels[at + 2]];
  }

  fillRect(x: number, y: number, w: number, h: number, colour: Rgb): void {
    for (let yy = Math.max(0, y); yy < Math.min(this.height, y + h); yy += 1) {
      for (let xx = Math.max(0, x); xx < Math.min(this.width, x + w); xx += 1) this.set(xx, yy, colour);
    }
  }

  /** Bresenham's line; `dash` > 0 draws `dash` pixels on, `dash` off. */
  line(x0: number, y0: number, x1: number, y1: number, colour: Rgb, dash = 0): void {
    let x = Math.round(x0);
    let y = Math.round(y0);
    const xe = Math.round(x1);
    const ye = Math.round(y1);
    const dx = Math.abs(xe - x);
    const dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1;
    const sy = y < ye ? 1 : -1;
    let err = dx + dy;
    for (let step = 0; ; step += 1) {
      if (dash <= 0 || Math.floor(step / dash) % 2 === 0) this.set(x, y, colour);
      if (x === xe && y === ye) return;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x += sx; }
      if (e2 <= dx) { err += dx; y += sy; }
    }
  }

  /** Writes text with its top left corner at (x, y); returns the x after the last glyph. */
  text(x: number, y: number, text: string, colour: Rgb, scale = 2): number {
    let cx = x;
    for (const character of text.toUpperCase()) {
      const glyph = GLYPHS[character] ?? GLYPHS['?'];
      for (let row = 0; row < GLYPH_HEIGHT; row += 1) {
        for (let col = 0; col < GLYPH_WIDTH; col += 1) {
          if (glyph[row * GLYPH_WIDTH + col] === '1') this.fillRect(cx + col * scale, y + row * scale, scale, scale, colour);
        }
      }
      cx += (GLYPH_WIDTH + 1) * scale;
    }
    return cx;
  }
}

/** Width in pixels of `text` at `scale`. */
export function textWidth(text: string, scale = 2): number {
  return [...text].length * (GLYPH_WIDTH + 1) * scale;
}
