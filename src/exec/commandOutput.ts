// Collecting a remote command's stdout and stderr, up to a byte limit per stream, and finding the
// pid line the command line prints on stderr before the command starts (remoteCommandLine.ts).

/** One stream's bytes, up to a limit. */
export class CommandOutput {
  protected readonly chunks: Buffer[] = [];
  protected size = 0;

  constructor(protected readonly limit: number) {}

  /** False once past the limit. */
  push(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.size += chunk.length;
    return this.keptBytes() <= this.limit;
  }

  text(encoding: 'utf8' | 'latin1'): string {
    return this.bytes().toString(encoding);
  }

  protected keptBytes(): number {
    return this.size;
  }

  protected bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** How far into stderr the pid line is looked for: only login-shell startup output can precede it. */
const PID_SEARCH_BYTES = 64 * 1024;

/**
 * stderr, less the line "<marker> <pid>\n" that reports the remote command's pid. The marker holds
 * a random token per command, so no output of the command or its shell can be taken for it.
 */
export class StderrWithPid extends CommandOutput {
  private line: { start: number; end: number } | undefined;
  private searching = true;

  constructor(limit: number, private readonly marker: string, private readonly onPid: (pid: number) => void) {
    super(limit);
  }

  override push(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.searching) this.search();
    return this.keptBytes() <= this.limit;
  }

  protected override keptBytes(): number {
    return this.line ? this.size - (this.line.end - this.line.start) : this.size;
  }

  protected override bytes(): Buffer {
    const all = super.bytes();
    return this.line ? Buffer.concat([all.subarray(0, this.line.start), all.subarray(this.line.end)]) : all;
  }

  private search(): void {
    const head = super.bytes().subarray(0, PID_SEARCH_BYTES);
    const start = head.indexOf(`${this.marker} `, 0, 'latin1');
    if (start >= 0) {
      const end = head.indexOf('\n', start, 'latin1');
      if (end < 0) return; // the rest of the line is still on its way
      const pid = Number(head.subarray(start + this.marker.length + 1, end).toString('latin1'));
      this.line = { start, end: end + 1 };
      this.searching = false;
      if (Number.isInteger(pid) && pid > 1) this.onPid(pid);
      return;
    }
    if (head.length >= PID_SEARCH_BYTES) this.searching = false;
  }
}
