// The PNG files the CLI writes (curves, prediction grids): zlib's best compression, written
// atomically so a reader never sees a partial file.
import { deflateSync } from 'node:zlib';
import { writeFileAtomic } from '../io/atomic-write.js';
import { encodePng, type RgbaImage } from '../io/png.js';
import { renderPlot, type Panel } from './plot.js';

export async function writePngAtomic(path: string, image: RgbaImage): Promise<void> {
  await writeFileAtomic(path, encodePng(image, { deflate: (bytes) => deflateSync(bytes, { level: 9 }) }));
}

/** Renders `panels` under `title` and writes the PNG. */
export async function writePlot(path: string, title: string, panels: Panel[]): Promise<void> {
  await writePngAtomic(path, renderPlot(panels, { title }).toImage());
}
