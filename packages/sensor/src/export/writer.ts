/**
 * Line sinks: stdout, or a file rotated by size (path, path.1 … path.N, oldest dropped). Lines are batched and
 * written when the batch reaches 64 KiB or on the next turn of the event loop, so a burst of events costs few
 * syscalls and nothing waits on I/O between two events.
 */
import { closeSync, existsSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

export interface LineSink {
  write(line: string): void;
  flush(): void;
  close(): void;
}

const BATCH_BYTES = 64 * 1024;

abstract class BatchingSink implements LineSink {
  private batch: string[] = [];
  private bytes = 0;
  private scheduled = false;

  write(line: string): void {
    this.batch.push(line);
    this.bytes += line.length + 1;
    if (this.bytes >= BATCH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  flush(): void {
    if (this.batch.length === 0) return;
    const chunk = this.batch.join('\n') + '\n';
    this.batch = [];
    this.bytes = 0;
    this.emit(chunk);
  }

  protected abstract emit(chunk: string): void;
  abstract close(): void;
}

export class StreamSink extends BatchingSink {
  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {
    super();
  }
  protected emit(chunk: string): void {
    this.stream.write(chunk);
  }
  close(): void {
    this.flush();
  }
}

export interface RotatingFileOptions {
  path: string;
  /** rotate when the file would exceed this many bytes */
  maxBytes: number;
  /** rotated files kept (path.1 … path.N) */
  keep: number;
}

export class RotatingFileSink extends BatchingSink {
  private fd: number;
  private size: number;

  constructor(private readonly opts: RotatingFileOptions) {
    super();
    this.fd = openSync(opts.path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  protected emit(chunk: string): void {
    const data = Buffer.from(chunk);
    if (this.size > 0 && this.size + data.length > this.opts.maxBytes) this.rotate();
    writeSync(this.fd, data);
    this.size += data.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    const { path, keep } = this.opts;
    if (keep <= 0) rmSync(path, { force: true });
    else {
      rmSync(`${path}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--) if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`);
      renameSync(path, `${path}.1`);
    }
    this.fd = openSync(path, 'a', 0o600);
    this.size = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
