// Keeps the WebGPU driver's own warnings off the command line's stderr (unless --verbose).
//
// Dawn writes some warnings straight from native code while it enumerates adapters (its
// dawn::WarningLog, an fprintf to stderr): on lavapipe "Warning: maxDynamicUniformBuffersPerPipelineLayout
// artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit." They come before
// any device exists, so no device logging callback sees them; dawn.node offers no switch for them;
// and Node cannot point its own file descriptor 2 elsewhere. So the CLI runs a GPU command in a
// child process with a piped stderr, drops these lines and passes everything else through as is.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Lines the driver prints by itself; everything else on stderr reaches the user unchanged. */
export const DRIVER_NOISE: readonly RegExp[] = [
  /^Warning: /, // Dawn's log format ("Warning: " + message); our own messages never start so
  /^WARNING: lavapipe is not a conformant vulkan implementation/, // Mesa, older versions
  /^MESA(-[A-Z]+)?: warning: /, // Mesa's driver warnings (MESA-INTEL: warning: ...)
];

export const isDriverNoise = (line: string): boolean => DRIVER_NOISE.some((pattern) => pattern.test(line));

/** Set in the child, so that it runs the command instead of starting another child. */
const CHILD_MARK = 'WEBGPU_CNN_STDERR_FILTERED';

export const stderrIsFiltered = (): boolean => process.env[CHILD_MARK] === '1';

/**
 * In the child: dies at once, as if killed, when the parent process goes (its IPC channel closes).
 * A parent killed with SIGKILL can pass nothing on, and a command left running would go on
 * writing checkpoints nobody asked for.
 */
export function dieWithParent(): void {
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
}

/** Passes whole lines on to `write` unless they are driver noise; a last partial line is held until end(). */
export class NoiseFilter {
  private pending = '';

  constructor(private readonly write: (text: string) => void) {}

  push(chunk: string): void {
    const text = this.pending + chunk;
    const end = text.lastIndexOf('\n');
    this.pending = text.slice(end + 1);
    if (end < 0) return;
    const kept = text
      .slice(0, end)
      .split('\n')
      .filter((line) => !isDriverNoise(line));
    if (kept.length > 0) this.write(kept.map((line) => `${line}\n`).join(''));
  }

  end(): void {
    if (this.pending.length > 0 && !isDriverNoise(this.pending)) this.write(this.pending);
    this.pending = '';
  }
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs this same command line (node, its loader flags, the script and `args`) in a child whose
 * stderr goes through a NoiseFilter; resolves to the exit status to leave with (128 + the signal's
 * number when the child was killed). stdin and stdout are the child's own: progress lines stay live.
 */
export function runWithFilteredStderr(args: readonly string[]): Promise<number> {
  const script = process.argv[1];
  if (!script) return Promise.reject(new Error('cannot restart the command line: process.argv[1] is empty'));
  return new Promise((resolve, reject) => {
    // The loader flags (tsx's) carry over; an inspector would clash with this process's, so it does not
    // (debug with --verbose, which runs in-process).
    const nodeFlags = process.execArgv.filter((flag) => !flag.startsWith('--inspect'));
    const child = spawn(process.execPath, [...nodeFlags, script, ...args], {
      stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
      env: { ...process.env, [CHILD_MARK]: '1' },
    });
    const filter = new NoiseFilter((text) => process.stderr.write(text));
    const stderr = child.stderr!; // piped above
    stderr.setEncoding('utf8');
    stderr.on('data', (chunk: string) => filter.push(chunk));
    // A Ctrl-C reaches the whole process group; a signal sent to this process alone is passed on.
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    child.on('error', (err) => reject(new Error(`cannot start the command in a child process: ${err.message}`)));
    child.on('close', (code, signal) => {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      filter.end();
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
