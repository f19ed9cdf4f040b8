// The soak suite's PNG writer and plots (test/reliability/support): the bytes are a PNG any reader
// takes (signature, IHDR of the right size, CRCs valid, IDAT inflating to one filter byte plus the
// RGB row per scanline, IEND last), and a plot puts its lines and labels where they belong.
import * as zlib from 'node:zlib';
import { compact, drawPlot, plotPng } from '../reliability/support/linePlot';
import { crc32, encodePng, PNG_SIGNATURE } from '../reliability/support/pngEncoder';
import { RasterCanvas } from '../reliability/support/rasterCanvas';

interface Chunk { type: string; data: Buffer; crc: number; crcInput: Buffer }

function chunks(png: Buffer): Chunk[] {
  const found: Chunk[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('latin1');
    const data = png.subarray(at + 8, at + 8 + length);
    found.push({ type, data, crc: png.readUInt32BE(at + 8 + length), crcInput: png.subarray(at + 4, at + 8 + length) });
    at += 12 + length;
  }
  return found;
}

/** zlib's own CRC-32 where Node has it (20.15+), else the check value of the standard. */
function referenceCrc(bytes: Buffer): number {
  const zlibCrc = (zlib as unknown as { crc32?: (data: Buffer) => number }).crc32;
  if (!zlibCrc) throw new Error('node:zlib has no crc32 (Node >= 20.15 needed for this check)');
  return zlibCrc(bytes) >>> 0;
}

function gradient(width: number, height: number): Buffer {
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i += 1) {
    rgb[i * 3] = i % 256;
    rgb[i * 3 + 1] = (i * 7) % 256;
    rgb[i * 3 + 2] = (i * 13) % 256;
  }
  return rgb;
}

describe('encodePng', () => {
  const width = 37;
  const height = 11;
  const rgb = gradient(width, height);
  const png = encodePng(width, height, rgb);

  it('starts with the PNG signature and has IHDR, IDAT, IEND in that order', () => {
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(PNG_SIGNATURE).toEqual(png.subarray(0, 8));
    expect(chunks(png).map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  });

  it('IHDR holds the size, 8-bit RGB, no interlace', () => {
    const ihdr = chunks(png)[0].data;
    expect(ihdr.length).toBe(13);
    expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4)]).toEqual([width, height]);
    expect([...ihdr.subarray(8)]).toEqual([8, 2, 0, 0, 0]);
  });

  it('every chunk CRC matches zlib\'s CRC-32 of its type and data', () => {
    for (const c of chunks(png)) expect(c.crc).toBe(referenceCrc(c.crcInput));
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926); // the standard's check value
    expect(crc32(Buffer.from('1234'), Buffer.from('56789'))).toBe(0xcbf43926);
  });

  it('IDAT inflates to width*height*3+height bytes: filter 0 and the RGB row per scanline', () => {
    const raw = zlib.inflateSync(chunks(png)[1].data);
    expect(raw.length).toBe(width * height * 3 + height);
    for (let y = 0; y < height; y += 1) {
      const row = raw.subarray(y * (width * 3 + 1), (y + 1) * (width * 3 + 1));
      expect(row[0]).toBe(0);
      expect(row.subarray(1).equals(rgb.subarray(y * width * 3, (y + 1) * width * 3))).toBe(true);
    }
    expect(chunks(png)[2].data.length).toBe(0);
  });

  it('refuses a buffer of the wrong size and a zero size', () => {
    expect(() => encodePng(2, 2, Buffer.alloc(11))).toThrow('expected 12 RGB bytes, got 11');
    expect(() => encodePng(0, 2, Buffer.alloc(0))).toThrow('positive integer size');
  });
});

describe('plots', () => {
  const count = (canvas: RasterCanvas, colour: readonly number[]): number => {
    let n = 0;
    for (let y = 0; y < canvas.height; y += 1) {
      for (let x = 0; x < canvas.width; x += 1) {
        const [r, g, b] = canvas.get(x, y);
        if (r === colour[0] && g === colour[1] && b === colour[2]) n += 1;
      }
    }
    return n;
  };

  it('draws one panel per metric with its line, axes and label, as a valid PNG', () => {
    const points = Array.from({ length: 19 }, (_, i) => ({ t: i * 10, v: 100 + i }));
    const options = {
      title: 'soak test', columns: 2, panelWidth: 300, panelHeight: 100,
      panels: [{ name: 'rss mb', points }, { name: 'fds', points: points.map((p) => ({ ...p, v: i(p.t) })) },
        { name: 'gap', points: [{ t: 0, v: 1 }, { t: 90, v: Number.NaN }, { t: 180, v: 2 }] }],
      markers: [{ t: 30, label: 'load' }],
    };
    function i(t: number): number { return t % 20 === 0 ? 30 : 31; }
    const canvas = drawPlot(options);
    expect([canvas.width, canvas.height]).toEqual([600, 30 + 2 * 100]);
    expect(count(canvas, [20, 90, 200])).toBeGreaterThan(200); // the series lines
    expect(count(canvas, [90, 90, 90])).toBeGreaterThan(3 * 2 * 80); // two axes per panel
    expect(count(canvas, [200, 60, 60])).toBeGreaterThan(0); // the marker
    // The fourth cell (no panel) stays white.
    expect(canvas.get(450, 200)).toEqual([255, 255, 255]);
    const png = plotPng(options);
    const ihdr = chunks(png)[0].data;
    expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4)]).toEqual([600, 230]);
    expect(zlib.inflateSync(chunks(png)[1].data).length).toBe(600 * 230 * 3 + 230);
  });

  it('writes labels in the 3x5 font and shortens values', () => {
    const canvas = new RasterCanvas(20, 7);
    canvas.text(0, 0, 'I', [0, 0, 0], 1);
    // I: a full top and bottom row, a middle stem.
    expect([0, 1, 2].map((x) => canvas.get(x, 0))).toEqual([[0, 0, 0], [0, 0, 0], [0, 0, 0]]);
    expect(canvas.get(1, 2)).toEqual([0, 0, 0]);
    expect(canvas.get(0, 2)).toEqual([255, 255, 255]);
    expect([compact(12), compact(3.14159), compact(42.42), compact(123456), compact(7.5e6), compact(Number.NaN)])
      .toEqual(['12', '3.14', '42.4', '123.5K', '7.5M', '-']);
  });
});
