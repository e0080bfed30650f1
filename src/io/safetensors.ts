// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON naming each tensor's dtype, shape and [begin, end) byte range in the
// data that follows, then the data, little-endian, with no gaps. The reader trusts nothing: every
// field, size and range is checked and a bad file is refused with a message naming the tensor.
// No `node:` imports: checkpoints are read and written in the browser too.

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

/** Typed arrays by dtype. F16 and BF16 travel as their raw 16-bit patterns. */
export type TensorData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

export interface SafeTensor {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsContents {
  tensors: Map<string, SafeTensor>;
  /** The header's `__metadata__`: string keys to string values. */
  metadata: Record<string, string>;
}

const DTYPES: Record<Dtype, { bytes: number; array: (buffer: ArrayBuffer) => TensorData }> = {
  F64: { bytes: 8, array: (b) => new Float64Array(b) },
  F32: { bytes: 4, array: (b) => new Float32Array(b) },
  F16: { bytes: 2, array: (b) => new Uint16Array(b) },
  BF16: { bytes: 2, array: (b) => new Uint16Array(b) },
  I64: { bytes: 8, array: (b) => new BigInt64Array(b) },
  I32: { bytes: 4, array: (b) => new Int32Array(b) },
  I16: { bytes: 2, array: (b) => new Int16Array(b) },
  I8: { bytes: 1, array: (b) => new Int8Array(b) },
  U64: { bytes: 8, array: (b) => new BigUint64Array(b) },
  U32: { bytes: 4, array: (b) => new Uint32Array(b) },
  U16: { bytes: 2, array: (b) => new Uint16Array(b) },
  U8: { bytes: 1, array: (b) => new Uint8Array(b) },
  BOOL: { bytes: 1, array: (b) => new Uint8Array(b) },
};

/** The typed array each dtype is written from and read into. */
const ARRAY_TYPES: Record<Dtype, new (n: number) => TensorData> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U64: BigUint64Array,
  U32: Uint32Array,
  U16: Uint16Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/** The format's own cap on the header (100 MB), so a garbage length is not an allocation. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

export class SafetensorsError extends Error {
  constructor(source: string, message: string) {
    super(`safetensors${source ? ` (${source})` : ''}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

// ---- writing -------------------------------------------------------------------------------

/**
 * Serialises tensors (in the order given) and string metadata into one safetensors file. The
 * header is padded with spaces so the data starts 8-byte aligned, as the reference writer does.
 */
export function encodeSafetensors(
  tensors: Iterable<[string, SafeTensor]> | Record<string, SafeTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  if (!littleEndian) throw new SafetensorsError('', 'writing needs a little-endian host');
  const entries: Array<[string, SafeTensor]> = Symbol.iterator in tensors ? [...(tensors as Iterable<[string, SafeTensor]>)] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError('', `metadata '${k}' must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === METADATA_KEY) throw new SafetensorsError('', `'${METADATA_KEY}' is reserved and cannot name a tensor`);
    if (Object.prototype.hasOwnProperty.call(header, name)) throw new SafetensorsError('', `tensor '${name}' given twice`);
    if (!isDtype(t.dtype)) throw new SafetensorsError('', `tensor '${name}': unknown dtype '${String(t.dtype)}'`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError('', `tensor '${name}': shape [${t.shape.join(', ')}] must hold integers >= 0`);
    }
    if (!(t.data instanceof ARRAY_TYPES[t.dtype])) {
      throw new SafetensorsError('', `tensor '${name}': dtype ${t.dtype} needs a ${ARRAY_TYPES[t.dtype].name}, got ${t.data.constructor.name}`);
    }
    const n = elementCount(t.shape);
    if (t.data.length !== n) {
      throw new SafetensorsError('', `tensor '${name}': shape [${t.shape.join(', ')}] holds ${n} values but the data has ${t.data.length}`);
    }
    const bytes = n * DTYPES[t.dtype].bytes;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, t] of entries) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

// ---- reading -------------------------------------------------------------------------------

/** One tensor as a header describes it: [begin, end) are byte offsets into the data. */
export interface HeaderEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** How deep a header nests: the file object, a tensor's entry, its shape or data_offsets array. */
const MAX_HEADER_DEPTH = 3;

/** A value for an error message, cut short (a header may hold huge arrays). */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function parseEntry(source: string, name: string, value: unknown): HeaderEntry {
  const bad = (message: string): never => {
    throw new SafetensorsError(source, `tensor '${name}': ${message}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(`expected an object in the header, got ${preview(value)}`);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') bad(`unexpected header field '${key}'`);
  }
  const { dtype, shape, data_offsets: offsets } = record;
  if (dtype === undefined) bad("the header has no 'dtype'");
  if (!isDtype(dtype)) bad(`unsupported dtype ${preview(dtype)} (known: ${Object.keys(DTYPES).join(', ')})`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    bad(`shape must be an array of integers >= 0, got ${preview(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    bad(`data_offsets must be [begin, end] with integers >= 0, got ${preview(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) bad(`data_offsets [${begin}, ${end}] end before they begin`);
  const dims = shape as number[];
  const expected = elementCount(dims) * DTYPES[dtype as Dtype].bytes;
  if (end - begin !== expected) {
    bad(`shape [${dims.join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype: dtype as Dtype, shape: dims, begin, end };
}

function parseMetadata(source: string, value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SafetensorsError(source, `${METADATA_KEY} must be an object of strings, got ${preview(value)}`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new SafetensorsError(source, `${METADATA_KEY} value '${k}' must be a string, got ${preview(v)}`);
  }
  return { ...(value as Record<string, string>) };
}

/**
 * What JSON.parse does not check: how deep the text nests (a deep one would exhaust the stack of
 * whatever walks it later) and keys repeated in one object (JSON.parse silently keeps the last, so
 * a file could name a tensor twice). One pass over the text, before it is parsed; text that is not
 * JSON at all is left for JSON.parse to describe.
 */
function checkHeaderStructure(source: string, text: string): void {
  const objects: Array<Set<string> | undefined> = []; // per open container: its keys (undefined: an array)
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') {
      objects.push(c === '{' ? new Set() : undefined);
      if (objects.length > MAX_HEADER_DEPTH) {
        throw new SafetensorsError(source, `header nests deeper than ${MAX_HEADER_DEPTH} levels at character ${i} (a safetensors header is an object of tensor entries, each with a shape array)`);
      }
    } else if (c === '}' || c === ']') {
      objects.pop();
    } else if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (i >= text.length) return; // unterminated: JSON.parse says so
      let next = i + 1;
      while (next < text.length && ' \t\r\n'.includes(text[next]!)) next++;
      const keys = objects.at(-1);
      if (keys === undefined || text[next] !== ':') continue;
      let key: string;
      try {
        key = JSON.parse(text.slice(start, i + 1)) as string;
      } catch {
        return; // a bad escape: JSON.parse says so
      }
      if (keys.has(key)) {
        const where = objects.length === 1 ? 'the header' : `an entry at depth ${objects.length}`;
        throw new SafetensorsError(source, `key ${preview(key)} appears twice in ${where} (each name may appear once)`);
      }
      keys.add(key);
    }
  }
}

/** A file's layout as its header describes it: where the data starts and each tensor's range. */
export interface SafetensorsHeader {
  /** Bytes of the JSON header (after the 8-byte length). */
  headerLength: number;
  /** Byte offset of the data: 8 + headerLength. */
  dataStart: number;
  tensors: HeaderEntry[];
  metadata: Record<string, string>;
}

/**
 * The header length a file's first 8 bytes give, checked against the format's cap and the file's
 * size (`fileLength`), before anything else is read or allocated.
 */
export function safetensorsHeaderLength(first: Uint8Array, fileLength: number, source = ''): number {
  const fail = (message: string): never => {
    throw new SafetensorsError(source, message);
  };
  if (!littleEndian) fail('reading needs a little-endian host');
  if (fileLength < 8 || first.length < 8) fail(`file is ${fileLength} bytes, too short for the 8-byte header length (truncated?)`);
  const headerLength64 = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (headerLength64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength64} is over the format's limit of ${MAX_HEADER_BYTES} bytes`);
  const headerLength = Number(headerLength64);
  if (8 + headerLength > fileLength) fail(`header says it is ${headerLength} bytes but only ${fileLength - 8} follow the length (truncated file?)`);
  return headerLength;
}

/**
 * Parses and checks the header of a file of `fileLength` bytes from its first bytes (`head`: at
 * least the 8-byte length and the header), strictly: valid UTF-8, a JSON object nested at most 3
 * deep without repeated keys, known dtypes, shapes that match their byte ranges, ranges inside the
 * file that tile the data exactly (no overlap, gap or trailing bytes). A reader can so refuse a
 * file, or learn every tensor's size, before reading its data.
 */
export function decodeSafetensorsHeader(head: Uint8Array, fileLength: number, source = ''): SafetensorsHeader {
  const fail = (message: string): never => {
    throw new SafetensorsError(source, message);
  };
  const headerLength = safetensorsHeaderLength(head, fileLength, source);
  if (head.length < 8 + headerLength) throw new RangeError(`decodeSafetensorsHeader: given ${head.length} bytes, the header needs ${8 + headerLength}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + headerLength));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`header must be a JSON object starting with '{', got ${JSON.stringify(text.slice(0, 20))}`);
  checkHeaderStructure(source, text);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header must be a JSON object');

  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) metadata = parseMetadata(source, value);
    else entries.push(parseEntry(source, name, value));
  }

  const dataStart = 8 + headerLength;
  const dataLength = fileLength - dataStart;
  for (const e of entries) {
    if (e.end > dataLength) {
      fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] reach past the end of the data (${dataLength} bytes; truncated file?)`);
    }
  }
  // The ranges, in order, must tile [0, dataLength) exactly.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: HeaderEntry | undefined;
  for (const e of sorted) {
    if (e.begin < covered) {
      fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] overlap tensor '${previous!.name}' [${previous!.begin}, ${previous!.end}]`);
    }
    if (e.begin > covered) {
      fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] leave a gap of ${e.begin - covered} bytes after byte ${covered}`);
    }
    covered = e.end;
    if (e.end > e.begin || !previous) previous = e;
  }
  if (covered !== dataLength) fail(`${dataLength - covered} bytes after the last tensor's data are not described by the header`);
  return { headerLength, dataStart, tensors: entries, metadata };
}

/**
 * Parses a safetensors file, checking it as decodeSafetensorsHeader does. `source` (a file name)
 * is quoted in errors.
 */
export function decodeSafetensors(bytes: Uint8Array, source = ''): SafetensorsContents {
  const { dataStart, tensors: entries, metadata } = decodeSafetensorsHeader(bytes, bytes.length, source);
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    // Copy out: the data may sit at any alignment and the caller may keep it past `bytes`. (Called
    // through Uint8Array's own slice: a Node Buffer's slice is a view of the whole file.)
    const copy = Uint8Array.prototype.slice.call(bytes, dataStart + e.begin, dataStart + e.end).buffer;
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: DTYPES[e.dtype].array(copy) });
  }
  return { tensors, metadata };
}

// ---- conversions ---------------------------------------------------------------------------

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Any tensor's values as float32 (BF16/F16 widened, integers converted; I64 beyond 2^53 loses digits). */
export function toFloat32(t: SafeTensor): Float32Array {
  switch (t.dtype) {
    case 'F32':
      return t.data as Float32Array;
    case 'F16':
      return Float32Array.from(t.data as Uint16Array, halfToFloat);
    case 'BF16': {
      const bits = new Uint32Array((t.data as Uint16Array).length);
      (t.data as Uint16Array).forEach((h, i) => (bits[i] = h << 16));
      return new Float32Array(bits.buffer);
    }
    case 'I64':
    case 'U64':
      return Float32Array.from(t.data as BigInt64Array, (v) => Number(v));
    default:
      return Float32Array.from(t.data as Exclude<TensorData, BigInt64Array | BigUint64Array>);
  }
}

/** A float32 tensor for `encodeSafetensors`. */
export function f32(data: Float32Array, shape: readonly number[]): SafeTensor {
  return { dtype: 'F32', shape: [...shape], data };
}
